"""The dashboard's page and data routes (open page, strict CSP, read role for the data), the latency
percentiles and equity series from the store, and the live stream: a decision another process saved reaches a
watcher on the next poll, a halt is a status update, a stream ends its subscription when the client leaves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from aegis.runtime.daily_ops import EQUITY_KEY
from aegis.server.broadcaster import STREAM_KEY, Broadcaster, Subscription, Update
from aegis.server.dashboard_data import stage_latencies
from aegis.server.live import LIVE_KEY, LiveFeed
from state.access import Access
from state.alerts import AlertLevel
from state.bots import Bot, BotDay
from state.decisions import DecisionRecord, Outcome, StageRecord, StageStatus
from tests.aegis.server.conftest import ServeFactory
from tests.aegis.server.http_server import served_over_http
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal

FAST = {"dashboard": {"poll_s": 0.05}}


def record(event_id: str, *stages: tuple[str, float, StageStatus]) -> DecisionRecord:
    return DecisionRecord(
        event_id=event_id,
        event_type="SIGNAL_GENERATED",
        outcome=Outcome.HOLD,
        reason="test",
        decided_at=datetime(2016, 3, 1, 21, tzinfo=UTC),
        stages=[StageRecord(stage=s, status=status, latency_ms=ms) for s, ms, status in stages],
    )


def test_latency_percentiles_per_stage_in_the_pipelines_order_then_whole_sessions() -> None:
    ok, skipped = StageStatus.OK, StageStatus.SKIPPED
    analyst = [float(n) for n in range(1, 101)]
    records = [record(f"e{n}", ("analyst", ms, ok), ("validator", 2.0, ok), ("commander", 9e9, skipped))
               for n, ms in enumerate(analyst)]  # fmt: skip
    rows = {r.stage: r for r in stage_latencies(list(reversed(records)))}  # the store gives newest first
    assert list(rows) == ["analyst", "validator", "session"]  # skipped stages are not latencies
    p50, p95, p99 = np.percentile(analyst, [50, 95, 99])
    assert (rows["analyst"].p50_ms, rows["analyst"].p95_ms, rows["analyst"].p99_ms) == (
        round(p50, 2), round(p95, 2), round(p99, 2))  # fmt: skip
    assert rows["analyst"].count == 100 and rows["analyst"].max_ms == 100.0
    assert rows["session"].p50_ms == round(float(np.percentile(np.array(analyst) + 2.0, 50)), 2)
    assert stage_latencies([]) == []


async def test_the_page_is_open_holds_no_data_and_forbids_inline_scripts(served: ServeFactory) -> None:
    api = await served()
    page = await api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert '<script type="module" src="/dashboard/app.js"></script>' in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text
    script = await api.client.get("/dashboard/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "content-security-policy" in script.headers
    for name in ("../routers/dashboard.py", "index.html.bak", "%2e%2e%2fapp.py"):
        assert (await api.client.get(f"/dashboard/{name}")).status_code == 404, name


async def test_whoami_and_the_data_routes_need_a_key_and_read_is_enough(served: ServeFactory) -> None:
    api = await served()
    for path in ("/api/whoami", "/api/dashboard/equity", "/api/dashboard/latency", "/api/stream"):
        answer = await api.client.get(path)
        assert answer.status_code == 401, path
    for role in ("read", "trade", "admin"):
        me = await api.client.get("/api/whoami", headers=api.as_role(role))
        assert me.json() == {"name": f"test-{role}", "role": role, "via": "key",
                             "actor": me.json()["actor"]}  # fmt: skip
        assert api.keys[Access(role)] not in me.text
        for path in ("/api/dashboard/equity", "/api/dashboard/latency"):
            assert (await api.client.get(path, headers=api.as_role(role))).status_code == 200, (role, path)
    bad = await api.client.get("/api/dashboard/latency?window=0", headers=api.as_role("read"))
    assert bad.status_code == 422 and "window" in bad.json()["detail"]


async def test_latency_comes_from_the_stored_decisions(served: ServeFactory) -> None:
    api = await served()
    bar = bundled_bars()[SESSION_DAY]
    for n in range(3):
        await api.pipeline.submit(signal(f"lat-{n}", bar))
    report = (await api.client.get("/api/dashboard/latency?window=2", headers=api.as_role("read"))).json()
    assert report["window"] == 2 and report["decisions"] == 2
    rows = {r["stage"]: r for r in report["stages"]}
    assert "analyst" in rows and rows["session"]["count"] == 2
    assert all(r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"] for r in report["stages"])


async def test_equity_now_by_day_and_the_bots_pnl_by_day(served: ServeFactory) -> None:
    api = await served()
    store, now = api.pipeline.services.store, api.pipeline.services.clock.now()
    empty = (await api.client.get("/api/dashboard/equity", headers=api.as_role("read"))).json()
    assert empty["now"]["equity"] == 100_000.0 and empty["now"]["day_pnl"] == 0.0
    assert empty["by_day"] == [] and empty["bots_by_day"] == []
    await store.put_value(EQUITY_KEY, {"2016-03-02": 101_000.0, "2016-03-01": 100_500.0}, now)
    await api.pipeline.bots.register(
        [Bot(bot_id=b, strategy=b, allocation=0.3, since=now - timedelta(days=9)) for b in ("value", "growth")],
        actor="test", reason="two bots",
    )  # fmt: skip
    await store.record_bot_days(
        [BotDay(bot_id="value", day=date(2016, 3, 1), pnl=10.0, sleeve=30_000.0, allocation=0.3),
         BotDay(bot_id="growth", day=date(2016, 3, 1), pnl=-4.0, sleeve=30_000.0, allocation=0.3)], now,
    )  # fmt: skip
    series = (await api.client.get("/api/dashboard/equity", headers=api.as_role("read"))).json()
    assert series["by_day"] == [{"day": "2016-03-01", "equity": 100_500.0}, {"day": "2016-03-02", "equity": 101_000.0}]
    assert series["bots_by_day"] == [{"day": "2016-03-01", "pnl": 6.0, "bots": {"growth": -4.0, "value": 10.0}}]


async def _next(subscription: Subscription) -> Update:
    update = await asyncio.wait_for(subscription.next(), 5)
    assert update is not None
    return update


async def test_a_decision_another_process_saved_reaches_a_watcher_and_a_halt_is_a_status(
    served: ServeFactory,
) -> None:
    api = await served(server=FAST)
    feed: LiveFeed = api.context.extras[LIVE_KEY]
    bar = bundled_bars()[SESSION_DAY]
    made_here = await api.pipeline.submit(signal("before", bar))
    async with feed.broadcaster.subscription() as subscription:
        assert await feed.broadcaster.primed(5)  # what was there is not sent again
        worker = made_here.model_copy(update={"event_id": "from-a-worker", "correlation_id": "from-a-worker"})
        assert await api.pipeline.services.store.save_decision(worker)  # no listener of this process hears it
        update = await _next(subscription)
        assert (update.kind, update.data["event_id"]) == ("decision", "from-a-worker")
        await api.pipeline.halt(reason="drill: stop everything", actor="test")
        kinds = {}
        while "status" not in kinds:
            update = await _next(subscription)
            kinds[update.kind] = update.data
        assert kinds["status"]["trading"] == "halted"
    assert feed.broadcaster.subscribers == 0


async def test_the_stream_says_hello_sends_decisions_and_ends_its_subscription_when_the_client_leaves(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    async with served_over_http(pipeline) as (url, context):
        key = (await context.keys.create("watcher", Access.READ, by="test")).key
        broadcaster: Broadcaster = context.extras[STREAM_KEY]
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            client.stream("GET", "/api/stream", headers=headers) as answer,
        ):
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
            events = aiter_events(answer)
            kind, data = await anext(events)
            assert kind == "hello" and data == {"name": "watcher", "role": "read", "primed": True}
            assert broadcaster.subscribers == 1
            await pipeline.submit(signal("streamed", bundled_bars()[SESSION_DAY]))
            kind, data = await anext(events)
            while kind != "decision":
                kind, data = await anext(events)
            assert data["event_id"] == "streamed" and data["outcome"]
        for _ in range(200):  # the server notices the closed connection on its own time: bounded wait
            if broadcaster.subscribers == 0:
                break
            await asyncio.sleep(0.025)
        assert broadcaster.subscribers == 0


async def aiter_events(answer: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, parsed data) of a server-sent event stream."""
    kind = "message"
    async for line in answer.aiter_lines():
        if line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            yield kind, json.loads(line.partition(":")[2].strip())
            kind = "message"


async def test_an_alert_and_its_acknowledgement_are_updates(served: ServeFactory) -> None:
    api = await served(server=FAST)
    feed: LiveFeed = api.context.extras[LIVE_KEY]
    async with feed.broadcaster.subscription() as subscription:
        assert await feed.broadcaster.primed(5)
        alert, _ = await api.pipeline.alerting.raise_alert(AlertLevel.WARNING, "drill", "drill: watch this")
        raised = await _next_of(subscription, "alert")
        assert (raised["alert_id"], raised["changed"], raised["acknowledged_at"]) == (alert.alert_id, False, None)
        await api.pipeline.alerting.acknowledge(alert.alert_id, "desk")
        acked = await _next_of(subscription, "alert")
        assert (acked["alert_id"], acked["changed"], acked["acknowledged_by"]) == (alert.alert_id, True, "desk")


async def _next_of(subscription: Subscription, kind: str) -> dict[str, Any]:
    while (update := await _next(subscription)).kind != kind:
        pass
    return update.data
