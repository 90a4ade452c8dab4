"""The health monitor on the embedded pipeline: a round's report, what it emits (changes only), the failure tiers
hearing it, the worker's heartbeat, the memory recycle and the restart of a stalled feed."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any, cast

import psutil
import pytest

from aegis import Pipeline
from aegis.runtime.feeder import TapeFeeder
from aegis.runtime.health_config import HealthConfig
from aegis.runtime.health_monitor import HealthMonitor
from aegis.runtime.supervised_task import SupervisedTask
from aegis.runtime.worker import Worker
from aegis.runtime.worker_heartbeat import read_heartbeats
from state.bus.base import BusPolicy, EventBus
from state.bus.memory import InMemoryBus
from state.clock import SimulatedClock
from state.trading import TradingState
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars, signal

ROUTE = "deepseek:deepseek-chat"
QUIET = HealthConfig(system_memory_degraded_pct=100, disk_free_degraded_pct=0,
                     disk_free_down_pct=0)  # fmt: skip  # the machine's own load must not decide these tests


@pytest.fixture(autouse=True)
def steady_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's CPU load (other tests running) is not under test here."""
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 5.0)


def clock_of(pipeline: Pipeline) -> SimulatedClock:
    return cast(SimulatedClock, pipeline.services.clock)


async def emitted(pipeline: Pipeline, component: str) -> list[tuple[str, str]]:
    """(event id, status) of the SYSTEM_HEALTH events decided about `component`, in order."""
    return [
        (d.event_id, str((d.operation or {}).get("status")))
        for d in await pipeline.services.store.decisions()
        if d.event_type == "SYSTEM_HEALTH" and (d.operation or {}).get("component") == component
    ]


async def test_a_healthy_embedded_pipeline_is_ok_ready_and_emits_nothing(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    monitor = HealthMonitor(pipeline, QUIET)
    report = await monitor.check_once()
    assert report.status == "ok" and report.ready
    names = [c.component for c in report.components]
    assert names == ["postgres", "redis", "bus", "workers", "circuits", "cpu", "memory", "disk"]
    assert report.component("postgres") is not None
    assert "embedded SQLite" in report.component("postgres").detail  # type: ignore[union-attr]
    assert [c.required for c in report.components if c.required] == [True, True, True, True]
    assert monitor.latest is report
    assert [d for d in await pipeline.services.store.decisions() if d.event_type == "SYSTEM_HEALTH"] == []


async def test_a_failing_provider_is_emitted_once_and_its_tier_hears_it(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    clock = clock_of(pipeline)
    monitor = HealthMonitor(pipeline, QUIET, origin="w1")
    pipeline.monitor.observe_provider(ROUTE, False)  # a call failed; nothing acted on it yet
    first = await monitor.check_once()
    assert first.component(f"provider:{ROUTE}").status == "degraded"  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=31))
    down = await monitor.check_once()
    assert down.component(f"provider:{ROUTE}").status == "down"  # type: ignore[union-attr]
    # The event went through the pipeline: the system-health flow told the tier, which moved the account.
    assert (await pipeline.trading.states()).account.state is TradingState.REDUCING
    kinds = {alert.kind for alert in await pipeline.services.store.alerts()}
    assert "provider_outage" in kinds
    stored = await pipeline.services.store.get_value(f"health:provider:{ROUTE}")
    assert stored is not None and stored[0]["status"] == "down"

    await monitor.check_once()  # unchanged: nothing emitted
    clock.advance(timedelta(seconds=5))
    pipeline.monitor.observe_provider(ROUTE, True)
    await monitor.check_once()
    assert (await pipeline.trading.states()).account.state is TradingState.ACTIVE  # the tier lifted its own state
    events = await emitted(pipeline, f"provider:{ROUTE}")
    assert [status for _, status in events] == ["degraded", "down", "ok"]
    ids = [event_id for event_id, _ in events]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"health-w1-\d{8}T\d{6}-\d+-provider:deepseek:deepseek-chat", i)
                                      for i in ids)  # fmt: skip


async def test_events_wait_in_order_while_they_cannot_be_recorded(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    monitor = HealthMonitor(pipeline, QUIET)
    real_submit = pipeline.submit
    calls: list[str] = []

    async def store_down(event: Any, knobs: Any = None) -> Any:
        calls.append(event["payload"]["component"] + " " + event["payload"]["status"])
        raise ConnectionError("store away")

    pipeline.submit = store_down  # type: ignore[method-assign]
    pipeline.monitor.observe_provider(ROUTE, False)
    await monitor.check_once()
    pipeline.monitor.observe_provider(ROUTE, True)
    await monitor.check_once()
    waiting = [e["payload"]["status"] for e in monitor.outbox if e["payload"]["component"] == f"provider:{ROUTE}"]
    assert waiting == ["degraded", "ok"]
    assert len(calls) == 2 and calls[0] == calls[1]  # the first waiting one is tried first, each round
    pipeline.submit = real_submit  # type: ignore[method-assign]
    await monitor.check_once()
    assert monitor.outbox == []
    assert [status for _, status in await emitted(pipeline, f"provider:{ROUTE}")] == ["degraded", "ok"]


async def test_a_worker_beats_each_round_and_its_last_beat_says_stopped(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    worker = Worker(pipeline, InMemoryBus(), "w7", block_ms=10)
    monitor = HealthMonitor(pipeline, QUIET, worker=worker)
    report = await monitor.check_once()
    assert report.component("workers").status == "ok"  # type: ignore[union-attr]
    assert "w7@" in report.component("workers").detail  # type: ignore[union-attr]
    ((beat, at),) = await read_heartbeats(pipeline.services.store)
    assert (beat.worker, beat.stopped, at) == ("w7", False, clock_of(pipeline).now())
    clock_of(pipeline).advance(timedelta(seconds=QUIET.heartbeat_max_age_s))
    stale = await HealthMonitor(pipeline, QUIET).check_once()  # the server's view: it writes no beat
    assert stale.component("workers").status == "down"  # type: ignore[union-attr]
    await monitor.close()
    ((beat, _),) = await read_heartbeats(pipeline.services.store)
    assert beat.stopped


async def test_a_worker_past_its_memory_limit_drains_and_is_recycled(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=0))
    bars = bundled_bars()
    for n in range(3):
        await bus.publish(signal(f"m-{n}", bars[SESSION_DAY]))
    worker = Worker(pipeline, bus, "w-mem", concurrency=1, batch=1, block_ms=10)
    monitor = HealthMonitor(pipeline, QUIET.model_copy(update={"memory_limit_mb": 1.0}), worker=worker)
    report = await monitor.check_once()
    assert monitor.recycle and worker.stopping
    assert report.component("memory").status == "down"  # type: ignore[union-attr]
    assert any("recycling" in line for line in report.recovery)
    stats = await worker.run()  # returns at once: it takes no more events
    assert stats.decided == 0 and await bus.backlog_count() == 3  # left on the bus for a fresh worker
    await monitor.close()
    ((beat, _),) = await read_heartbeats(pipeline.services.store)
    assert beat.stopped


async def test_a_stalled_feed_is_restarted_and_resumes_where_it_stopped(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bars = bundled_bars()
    lines = [
        f'{{"id": "t-{n}", "type": "MARKET_TICK", "source": "tape", "symbols": ["{SYMBOL}"], '
        f'"event_time": "{bar.time.isoformat()}", "payload": {{"bar": {bar.model_dump_json()}}}}}'
        for n, bar in enumerate(bars[SESSION_DAY + 1 : SESSION_DAY + 4])
    ]
    lines.insert(2, '{"id": "n-1", "type": "NEWS", "source": "tape"}')
    published: list[str] = []
    hung = asyncio.Event()

    class HangsOnce:
        async def publish(self, event: dict[str, Any]) -> str:
            if not hung.is_set():
                hung.set()
                await asyncio.Event().wait()  # the first publish never returns: the feed is stalled
            published.append(event["id"])
            return str(len(published))

    now = [0.0]
    feeder = TapeFeeder(pipeline, cast(EventBus, HangsOnce()), lines)
    task = SupervisedTask("tape", feeder.play, monotonic=lambda: now[0])
    config = QUIET.model_copy(update={"feed_tick_max_age_s": 120.0})
    monitor = HealthMonitor(pipeline, config, feeds=[task])
    task.start()
    await hung.wait()
    assert feeder.position == 2 and feeder.stats.ticks == 2
    now[0] = 119.0
    assert (await monitor.check_once()).component("feed_task:tape").status == "degraded"  # type: ignore[union-attr]
    now[0] = 120.0
    report = await monitor.check_once()
    assert report.component("feed_task:tape").status == "down"  # type: ignore[union-attr]
    assert report.recovery == ("feed_task:tape: restarted (last tick 120 s ago)",)
    await task.wait()
    assert published == ["n-1"] and feeder.stats.ticks == 3 and task.restarts == 1
    assert [b.time for b in (await pipeline.services.hot.bars(SYMBOL))[-3:]] == [b.time for b in bars[201:204]]
    assert (await monitor.check_once()).component("feed_task:tape").status == "ok"  # type: ignore[union-attr]
    events = await emitted(pipeline, "feed_task:tape")
    assert [status for _, status in events] == ["degraded", "down", "ok"]
    decided = await pipeline.services.store.decisions()
    assert not [d for d in decided if str((d.operation or {}).get("component", "")).startswith("feed:")]


async def test_run_checks_every_interval_until_stopped(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    monitor = HealthMonitor(pipeline, QUIET.model_copy(update={"interval_s": 0.01}))
    rounds: list[int] = []
    three = asyncio.Event()
    original = monitor.check_once

    async def counted() -> Any:
        report = await original()
        rounds.append(1)
        if len(rounds) == 3:
            three.set()
        return report

    monitor.check_once = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(monitor.run(stop))
    await asyncio.wait_for(three.wait(), 5)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert monitor.latest is not None and monitor.latest.ready


async def test_cpu_is_reported_but_never_emitted(make_pipeline: PipelineFactory, monkeypatch: Any) -> None:
    pipeline = await make_pipeline()
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 99.0)
    report = await HealthMonitor(pipeline, QUIET).check_once()
    assert report.component("cpu").status == "degraded"  # type: ignore[union-attr]
    assert await emitted(pipeline, "cpu") == []
