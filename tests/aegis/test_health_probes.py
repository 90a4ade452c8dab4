"""The health probes, one component at a time: what each measures and where ok, degraded and down begin."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from aegis.runtime import health_probes as probes
from aegis.runtime.health_config import HealthConfig
from aegis.runtime.health_report import ComponentHealth, HealthReport, at_least
from aegis.runtime.supervised_task import SupervisedTask
from aegis.runtime.worker_heartbeat import beat_of, read_heartbeats, write_heartbeat
from agents.llm.client import LLMReply, LLMRequest, ProviderUnavailableError
from agents.llm.registry import ProviderRegistry
from agents.llm.resilience import CircuitBreaker, ResilientClient, RetryPolicy, Route
from quant.tiers import ProviderHealth, ProviderThresholds
from state.bus.base import BusPolicy
from state.bus.memory import InMemoryBus
from state.clock import SimulatedClock
from state.store.sqlite import SqliteStore

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_thresholds_belong_to_the_worse_status() -> None:
    assert at_least(89.99, 90.0) == "ok"
    assert at_least(90.0, 90.0) == "degraded"
    assert at_least(119.9, 30.0, 120.0) == "degraded"
    assert at_least(120.0, 30.0, 120.0) == "down"


def test_the_config_refuses_thresholds_out_of_order() -> None:
    with pytest.raises(ValidationError, match="disk_free_down_pct"):
        HealthConfig(disk_free_down_pct=20, disk_free_degraded_pct=10)
    with pytest.raises(ValidationError, match="feed_tick_degraded_s"):
        HealthConfig(feed_tick_degraded_s=200, feed_tick_max_age_s=120)
    assert HealthConfig().interval_s == 30.0 and HealthConfig().memory_limit_mb == 2048.0


def test_a_report_is_ready_unless_a_required_component_is_down() -> None:
    def part(name: str, status: str, required: bool) -> ComponentHealth:
        return ComponentHealth.model_validate(
            {"component": name, "status": status, "checked_at": T0, "required": required}
        )

    degraded = HealthReport(origin="t", checked_at=T0, components=(part("postgres", "degraded", True),))
    assert degraded.ready and degraded.status == "degraded"
    optional_down = HealthReport(origin="t", checked_at=T0, components=(part("cpu", "down", False),))
    assert optional_down.ready and optional_down.status == "down"
    required_down = HealthReport(
        origin="t", checked_at=T0, components=(part("postgres", "down", True), part("cpu", "ok", False))
    )
    assert not required_down.ready
    summary = required_down.summary()
    assert (summary["ready"], summary["status"]) == (False, "down")
    assert HealthReport.model_validate(summary) == required_down


async def test_a_probe_that_hangs_or_raises_is_down_with_its_reason() -> None:
    async def hangs() -> probes.Found:
        await asyncio.sleep(10)
        return "ok", "", {}

    async def raises() -> probes.Found:
        raise ConnectionRefusedError("connection refused")

    hung = await probes.timed("postgres", hangs, T0, 0.05, True)
    assert (hung.status, hung.detail, hung.required) == ("down", "no answer within 0.05 s", True)
    assert hung.latency_ms >= 50
    refused = await probes.timed("redis", raises, T0, 1.0, False)
    assert refused.status == "down" and "ConnectionRefusedError: connection refused" in refused.detail


async def test_the_bus_counts_pending_lag_and_new_dead_letters() -> None:
    bus = InMemoryBus(BusPolicy(claim_idle_ms=0))
    config = HealthConfig(bus_pending_degraded=2, bus_backlog_degraded=3, dead_letters_degraded=2)
    seen: list[int] = []
    probe = probes.bus_probe(bus, config, seen)
    for n in range(3):
        await bus.publish({"id": f"e{n}"})
    assert await probe() == (
        "degraded",
        "0 pending, 3 not delivered yet, 0 dead letters (0 new)",
        {"pending": 0, "backlog": 3, "dead_letters": 0, "new_dead": 0},
    )
    deliveries = await bus.receive("w", 3, 0)
    await bus.dead_letter(deliveries[0], "invalid")
    status, _, measured = await probe()
    assert status == "degraded" and measured["pending"] == 2 and measured["backlog"] == 0
    await bus.dead_letter(deliveries[1], "invalid")
    await bus.ack(deliveries[2])
    status, _, measured = await probe()
    assert (status, measured["new_dead"], measured["dead_letters"]) == ("ok", 1, 2)  # under 2 new per check
    assert (await probes.bus_probe(None, config, [])())[1] == "no bus in this process"


async def test_worker_heartbeats_are_read_back_and_the_stale_ones_named(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    store = await SqliteStore(tmp_path / "r.sqlite", clock=clock).open()
    config = HealthConfig(heartbeat_max_age_s=90)
    try:
        assert (await probes.workers_probe(store, config, T0)())[0:2] == ("ok", "no worker heartbeat recorded")
        await write_heartbeat(store, beat_of("w1", 5, T0), T0)
        await write_heartbeat(store, beat_of("w2", 7, T0), T0 + timedelta(seconds=60))
        await write_heartbeat(store, beat_of("w3", 0, T0, stopped=True), T0)  # gone on purpose: not stale
        beats = {beat.worker: (beat, at) for beat, at in await read_heartbeats(store)}
        assert set(beats) == {"w1", "w2", "w3"}
        assert beats["w2"][0].handled == 7 and beats["w2"][0].rss_mb > 0 and beats["w2"][0].pid > 0
        at_89 = await probes.workers_probe(store, config, T0 + timedelta(seconds=89.9))()
        assert at_89[0] == "ok" and at_89[2] == {"alive": 2, "stale": 0}
        at_90 = await probes.workers_probe(store, config, T0 + timedelta(seconds=90))()
        assert at_90[0] == "degraded" and at_90[1].startswith("stale: w1@") and at_90[2] == {"alive": 1, "stale": 1}
        at_150 = await probes.workers_probe(store, config, T0 + timedelta(seconds=150))()
        assert at_150[0] == "down" and at_150[2] == {"alive": 0, "stale": 2}
    finally:
        await store.close()


def test_a_provider_route_failing_is_degraded_then_down_from_the_reducing_tier() -> None:
    thresholds = ProviderThresholds(reducing_from_s=30.0)
    failing = ProviderHealth().observe(False, T0)
    health = {"deepseek:deepseek-chat": failing, "anthropic:claude": ProviderHealth()}
    at_29 = dict(probes.provider_components(health, thresholds, T0 + timedelta(seconds=29.9)))
    assert at_29["provider:anthropic:claude"][0] == "ok"
    assert at_29["provider:deepseek:deepseek-chat"][0:2] == ("degraded", "failing for 30 s")
    at_30 = dict(probes.provider_components(health, thresholds, T0 + timedelta(seconds=30)))
    assert at_30["provider:deepseek:deepseek-chat"][0] == "down"


class _Refusing:
    provider = "flaky"

    async def complete(self, request: LLMRequest) -> LLMReply:
        raise ProviderUnavailableError("503")


async def test_an_open_circuit_is_degraded() -> None:
    breaker = CircuitBreaker(failures_to_open=1, reset_after_s=60)
    client = ResilientClient(
        [Route("flaky-primary", _Refusing())],
        policy=RetryPolicy(max_attempts=1),
        breakers={"flaky-primary": breaker},
    )
    registry = ProviderRegistry({"flaky": client}, observer=lambda route, ok: None)
    assert probes.circuits(registry) == ("ok", "every circuit closed", {"routes": 1, "open": 0})
    with pytest.raises(ProviderUnavailableError):
        await registry.get("flaky").complete(_request())
    assert probes.circuits(registry) == ("degraded", "circuit flaky/flaky-primary open", {"routes": 1, "open": 1})
    assert probes.circuits(ProviderRegistry({}))[0] == "ok"


def _request() -> LLMRequest:
    from agents.llm.observed import probe_request

    return probe_request("m", timeout_s=1.0)


async def test_a_feed_is_degraded_then_down_by_its_last_tick_age() -> None:
    now = [0.0]
    config = HealthConfig(feed_tick_degraded_s=30, feed_tick_max_age_s=120)
    release = asyncio.Event()

    async def body(task: SupervisedTask) -> None:
        task.beat()
        await release.wait()

    task = SupervisedTask("tape", body, monotonic=lambda: now[0])
    assert probes.feed_found(task, config)[0:2] == ("down", "not started")
    task.start()
    await asyncio.sleep(0)
    now[0] = 29.9
    assert probes.feed_found(task, config)[0] == "ok"
    now[0] = 30.0
    assert probes.feed_found(task, config)[0] == "degraded"
    now[0] = 120.0
    assert probes.feed_found(task, config)[0] == "down"
    release.set()
    await task.wait()
    assert probes.feed_found(task, config)[0:2] == ("ok", "finished")


async def test_a_feed_that_ended_with_an_error_is_down() -> None:
    async def body(task: SupervisedTask) -> None:
        raise ValueError("the AAPL bar at 2020-01-02 is not after its previous one")

    task = SupervisedTask("tape", body)
    task.start()
    with pytest.raises(ValueError, match="not after its previous one"):
        await task.wait()
    status, detail, _ = probes.feed_found(task, HealthConfig())
    assert status == "down" and detail.startswith("ended with ValueError: the AAPL bar")


def test_memory_is_degraded_near_the_limit_and_down_at_it() -> None:
    import psutil

    process = psutil.Process()
    rss = process.memory_info().rss / (1024 * 1024)
    assert probes.memory_found(HealthConfig(memory_limit_mb=rss * 100), process)[0] == "ok"
    near = probes.memory_found(HealthConfig(memory_limit_mb=rss * 1.1, memory_warn_share=0.5), process)
    assert near[0] == "degraded"
    assert probes.memory_found(HealthConfig(memory_limit_mb=1), process)[0] == "down"


def test_disk_free_space_against_its_thresholds(tmp_path: Path) -> None:
    import psutil

    free_pct = 100.0 - psutil.disk_usage(str(tmp_path)).percent
    assert probes.disk_found(HealthConfig(disk_free_degraded_pct=0, disk_free_down_pct=0), tmp_path)[0] == "ok"
    degraded = HealthConfig(disk_free_degraded_pct=min(100.0, free_pct + 1), disk_free_down_pct=0)
    assert probes.disk_found(degraded, tmp_path)[0] == "degraded"
    down = HealthConfig(disk_free_degraded_pct=100, disk_free_down_pct=100)
    status, detail, measured = probes.disk_found(down, tmp_path / "not-made-yet")
    assert (
        status == "down" and "% free" in detail and isinstance(measured["free_mb"], float)
    )  # the disk of its nearest folder
