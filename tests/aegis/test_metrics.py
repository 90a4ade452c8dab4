"""The metrics after real events through a pipeline: the counts agree with the decision records."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aegis import Pipeline, Settings
from aegis.cli.worker import _work
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.metrics import Metrics, flow_of, serve_metrics
from aegis.runtime.metrics.window import LatencyWindow
from agents.llm.client import LLMClient, LLMReply, LLMRequest
from agents.llm.config import LLMConfig
from agents.llm.factory import build_clients
from agents.llm.scripted import ScriptedClient
from state.alerts import AlertLevel
from state.decisions import DecisionRecord, Outcome, StageStatus
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars, signal

BARS = bundled_bars()


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed by prometheus_client's own parser: (name, labels) -> value."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and all((k, w) in ls for k, w in labels.items()))


def events(n: int) -> list[dict[str, Any]]:
    return [signal(f"m-{i}", BARS[SESSION_DAY], direction="long" if i % 2 else "short") for i in range(n)]


async def submitted(pipeline: Pipeline) -> list[DecisionRecord]:
    good = events(6)
    bad = [{**good[0], "id": "bad-1", "type": "NOPE"}, {"id": "bad-2"}]
    decisions = [await pipeline.submit(event) for event in good + bad]
    await pipeline.submit(good[0])  # a redelivery: its recorded decision comes back, counted once
    return decisions


async def test_events_stages_and_calls_match_the_decisions(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    metrics = Metrics()
    metrics.attach(pipeline)
    decisions = await submitted(pipeline)
    found = samples(metrics)

    # a rejected event's type is whatever its sender wrote: "unknown" as a label, so no sender grows the series
    by_outcome = Counter(
        (d.event_type if str(d.outcome) != "rejected" else "unknown", str(d.outcome)) for d in decisions
    )
    assert len(by_outcome) >= 2, "the set decides more than one way"
    for (event_type, outcome), count in by_outcome.items():
        assert total(found, "aegis_events_total", event_type=event_type, outcome=outcome) == count
    assert total(found, "aegis_events_total") == len(decisions)

    timed = Counter(
        (flow_of(d.event_type), s.stage) for d in decisions for s in d.stages if s.status is not StageStatus.SKIPPED
    )
    assert timed, "the sessions ran stages"
    for (flow, stage), count in timed.items():
        assert total(found, "aegis_stage_latency_seconds_count", flow=flow, stage=stage) == count
        assert total(found, "aegis_stage_latency_seconds_bucket", flow=flow, stage=stage, le="+Inf") == count

    role_calls = Counter((s.provider, s.model, s.stage) for d in decisions for s in d.stages if s.provider and s.usage)
    assert role_calls, "the roles were asked"
    for (provider, model, role), count in role_calls.items():
        # the model the reply named: the rules baseline is labelled as itself, never as the LLM it stands in for
        labels = {"provider": str(provider), "model": str(model), "role": role, "outcome": "ok"}
        assert total(found, "aegis_llm_calls_total", **labels) == count
        assert total(found, "aegis_llm_call_latency_seconds_count", provider=str(provider), role=role) == count
    tokens_in = sum(s.usage.input_tokens for d in decisions for s in d.stages if s.provider and s.usage)
    assert total(found, "aegis_llm_tokens_total", direction="in") == tokens_in

    ordered = [d for d in decisions if d.order is not None]
    assert total(found, "aegis_orders_total") == len(ordered)
    clipped = [d for d in decisions if d.guard_changes and str(d.outcome) != "blocked"]
    assert total(found, "aegis_guard_actions_total", action="clipped") == len(clipped)
    assert total(found, "aegis_guard_changes_total") == sum(len(d.guard_changes) for d in decisions)
    assert total(found, "aegis_sessions_in_flight") == 0

    table = metrics.stage_percentiles()
    for (_, stage), count in timed.items():
        assert table[stage]["samples"] >= count
        assert table[stage]["p50"] <= table[stage]["p95"] <= table[stage]["p99"]


LONG = {"direction": "long", "confidence": 0.8, "thesis": "trend up", "evidence": ["report.trend=up"]}
APPROVE = {"verdict": "approve", "reasons": ["checks pass"], "violated_checks": []}
VETO = {"verdict": "veto", "reasons": ["range too wide"], "violated_checks": ["volatility_fits_posture"]}


async def test_vetoes_and_the_guards_clips_are_counted_by_rule(make_pipeline: PipelineFactory) -> None:
    bar = BARS[SESSION_DAY]
    oversized = {
        "action": "buy", "size_pct": 60.0, "order_type": "limit", "limit_price": bar.close,
        "stop_loss_pct": 9.0, "take_profit_pct": 40.0, "rationale": "all in",
    }  # fmt: skip
    client = ScriptedClient({"analyst": [LONG, LONG], "validator": [APPROVE, VETO], "commander": [oversized]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    metrics = Metrics()
    metrics.attach(pipeline)
    clipped = await pipeline.submit(signal("g-1", bar))
    vetoed = await pipeline.submit(signal("g-2", bar))
    assert (clipped.outcome, vetoed.outcome) == (Outcome.ORDERED, Outcome.VETOED)
    found = samples(metrics)
    assert total(found, "aegis_vetoes_total", event_type="SIGNAL_GENERATED", failed_closed="false") == 1
    assert total(found, "aegis_guard_actions_total", action="clipped") == 1
    assert total(found, "aegis_guard_actions_total", action="refused") == 0
    assert clipped.guard_changes
    for change in clipped.guard_changes:
        assert total(found, "aegis_guard_changes_total", field=change.field, rule=change.rule) >= 1
    assert total(found, "aegis_guard_changes_total") == len(clipped.guard_changes)
    assert total(found, "aegis_orders_total", side="buy", order_type="limit") == 1
    assert total(found, "aegis_llm_calls_total", provider="scripted", role="commander", outcome="ok") == 1
    assert total(found, "aegis_llm_calls_total", provider="scripted", role="validator", outcome="ok") == 2


async def test_fills_alerts_and_deliveries_are_counted_as_booked_and_recorded(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    metrics = Metrics()
    metrics.attach(pipeline)
    decisions = [await pipeline.submit(event) for event in events(4)]
    feed = pipeline.market_feed(detect=False)
    await feed.bar(SYMBOL, BARS[SESSION_DAY + 1])  # the orders fill at the next bar's open
    fills = await pipeline.services.store.fills()
    assert fills, f"the next bar fills an order (outcomes: {[str(d.outcome) for d in decisions]})"

    await pipeline.alerting.raise_alert(AlertLevel.WARNING, "test_condition", "a condition")
    await pipeline.alerting.raise_alert(AlertLevel.WARNING, "test_condition", "the same, still open")
    await pipeline.alerting.drain()
    found = samples(metrics)
    assert total(found, "aegis_fills_total") == len(fills)
    assert total(found, "aegis_alerts_total", level="warning", kind="test_condition") == 1
    assert total(found, "aegis_alert_deliveries_total", channel="log", outcome="ok") >= 1


class InFlightProbe:
    """The rules baseline, noting the sessions-in-flight gauge as each role is asked (a session is running)."""

    def __init__(self) -> None:
        self._inner: LLMClient = build_clients(LLMConfig())["rules"]
        self.metrics: Metrics | None = None
        self.seen: list[float] = []

    @property
    def provider(self) -> str:
        return self._inner.provider

    async def complete(self, request: LLMRequest) -> LLMReply:
        if self.metrics is not None:
            self.seen.append(total(samples(self.metrics), "aegis_sessions_in_flight"))
        return await self._inner.complete(request)


async def test_sessions_in_flight_is_read_from_the_pipeline_at_scrape_time(make_pipeline: PipelineFactory) -> None:
    probe = InFlightProbe()
    pipeline = await make_pipeline({"rules": probe})
    probe.metrics = Metrics()
    probe.metrics.attach(pipeline)
    await pipeline.submit_wave(events(4), concurrency=2)
    assert probe.seen and max(probe.seen) >= 1
    assert total(samples(probe.metrics), "aegis_sessions_in_flight") == 0


async def test_health_and_bus_are_what_was_last_said_and_a_bad_status_is_refused() -> None:
    metrics = Metrics()
    metrics.set_health("redis", "ok")
    metrics.set_health("postgres", "degraded")
    metrics.set_health("postgres", "down")
    metrics.set_bus(pending=7, dead_letters=2)
    found = samples(metrics)
    assert total(found, "aegis_health_status", component="redis") == 0
    assert total(found, "aegis_health_status", component="postgres") == 2
    assert (total(found, "aegis_bus_pending"), total(found, "aegis_bus_dead_letters")) == (7, 2)
    with pytest.raises(ValueError, match="'sideways' of redis is not one of"):
        metrics.set_health("redis", "sideways")
    assert total(samples(Metrics()), "aegis_health_status") == 0, "each Metrics has its own registry"


def test_the_latency_window_keeps_only_the_most_recent_samples() -> None:
    window = LatencyWindow(size=100)
    for ms in range(1000):  # 0 .. 999 ms; the window keeps 900 .. 999
        window.add("analyst", float(ms))
    row = window.percentiles()["analyst"]
    assert row["samples"] == 100
    assert row["p50"] == pytest.approx(949.5)
    assert row["p99"] == pytest.approx(998.01)
    with pytest.raises(ValueError, match="at least one sample"):
        LatencyWindow(size=0)


async def test_the_metrics_server_serves_the_exposition_on_loopback(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    metrics = Metrics()
    metrics.attach(pipeline)
    await pipeline.submit(events(1)[0])
    server = serve_metrics(metrics, 0)
    try:
        assert server.server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    finally:
        server.close()
    families = {f.name for f in text_string_to_metric_families(body)}
    assert {"aegis_events", "aegis_stage_latency_seconds", "aegis_llm_calls"} <= families
    assert 'aegis_events_total{event_type="SIGNAL_GENERATED"' in body


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(url: str) -> str:
    try:
        return str(urllib.request.urlopen(url, timeout=2).read().decode())
    except OSError:  # not listening yet
        return ""


@pytest.mark.services
async def test_a_worker_with_a_metrics_port_serves_what_it_decides(
    redis_namespace: tuple[str, str], tmp_path: Path
) -> None:
    url, prefix = redis_namespace
    settings = Settings(data_dir=tmp_path / "data", redis_url=url, redis_prefix=prefix)
    bus = open_bus(settings)
    published = events(3)
    for event in published:
        await bus.publish(event)
    await bus.close()
    port = _free_port()
    work = asyncio.create_task(_work(settings, "w-metrics", 2, False, metrics_port=port))
    scraped, deadline = "", asyncio.get_running_loop().time() + 20
    try:
        while asyncio.get_running_loop().time() < deadline and not work.done():
            scraped = await asyncio.to_thread(_scrape, f"http://127.0.0.1:{port}/metrics")
            decided = [
                s.value
                for f in text_string_to_metric_families(scraped)
                for s in f.samples
                if s.name == "aegis_events_total"
            ]
            if sum(decided) == len(published):
                break
            await asyncio.sleep(0.05)
    finally:
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
    assert 'aegis_events_total{event_type="SIGNAL_GENERATED"' in scraped, scraped[-2000:]
    assert sum(decided) == len(published)
    assert await asyncio.to_thread(_scrape, f"http://127.0.0.1:{port}/metrics") == "", "closed with the worker"


def test_a_health_report_sets_the_health_and_bus_gauges() -> None:
    from datetime import UTC, datetime

    from aegis.runtime.health_report import ComponentHealth, HealthReport

    at = datetime(2026, 1, 5, tzinfo=UTC)
    metrics = Metrics()
    metrics.record_health(HealthReport(origin="w1", checked_at=at, components=(
        ComponentHealth(component="bus", status="degraded", checked_at=at,
                        measured={"pending": 7, "backlog": 120, "dead_letters": 2, "new_dead": 0}),
        ComponentHealth(component="postgres", status="down", checked_at=at),
    )))  # fmt: skip
    body = metrics.render()[0].decode()
    assert 'aegis_health_status{component="bus"} 1.0' in body
    assert 'aegis_health_status{component="postgres"} 2.0' in body
    assert "aegis_bus_pending 7.0" in body and "aegis_bus_backlog 120.0" in body
    assert "aegis_bus_dead_letters 2.0" in body
