"""Ticks on the bus take the worker's fast path (the market feed, in batches, no session), and events of a higher
priority class are handled before a backlog of ticks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aegis import Pipeline
from aegis.runtime.worker import Worker
from state.bus.base import BusPolicy
from state.bus.memory import InMemoryBus
from state.decisions import DecisionRecord, Outcome
from state.store.base import StoreUnavailableError
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars, signal
from tools.feeds.tape import tick_event

BARS = bundled_bars()


def ticks(first: int, n: int) -> list[dict[str, Any]]:
    """Ticks of the AAPL bars after the ones the pipeline holds (it holds bars up to SESSION_DAY)."""
    return [tick_event(SYMBOL, bar) for bar in BARS[first : first + n]]


class CountingBus(InMemoryBus):
    """Counts the exchanges that acknowledge: one `ack_many` per batch of ticks."""

    def __init__(self, policy: BusPolicy | None = None) -> None:
        super().__init__(policy)
        self.ack_calls: list[int] = []

    async def ack_many(self, deliveries: Any) -> None:
        self.ack_calls.append(len(deliveries))
        await super().ack_many(deliveries)


async def last_bar_time(pipeline: Pipeline) -> Any:
    return (await pipeline.services.hot.bars(SYMBOL))[-1].time


async def test_ticks_from_the_bus_update_the_market_in_batches_without_a_session(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    bus = CountingBus()
    published = ticks(SESSION_DAY + 1, 40)
    for event in published:
        await bus.publish(event)
    stats = await Worker(pipeline, bus, "w1", concurrency=4, tick_batch=16, block_ms=10).run(until_idle=True)
    assert (stats.ticks, stats.decided, stats.rejected, stats.failed) == (40, 0, 0, 0)
    assert await bus.pending_count() == 0 and await bus.dead_letters() == []
    assert await last_bar_time(pipeline) == BARS[SESSION_DAY + 40].time
    assert pipeline.paper_broker.last_bar_time(SYMBOL) == BARS[SESSION_DAY + 40].time
    assert sum(bus.ack_calls) == 40 and max(bus.ack_calls) == 16  # acked a batch at a time, not one by one
    assert await pipeline.services.store.get_decision(published[0]["id"]) is None  # no session ran


async def test_an_event_after_ticks_is_decided_on_the_market_those_ticks_made(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus()
    for event in ticks(SESSION_DAY + 1, 5):
        await bus.publish(event)
    await bus.publish(signal("after-ticks", BARS[SESSION_DAY + 5]))
    seen_at_submit: list[Any] = []
    real_submit = pipeline.submit

    async def submit(event: Any, knobs: Any = None) -> DecisionRecord:
        seen_at_submit.append(await last_bar_time(pipeline))
        return await real_submit(event, knobs)

    monkeypatch.setattr(pipeline, "submit", submit)
    stats = await Worker(pipeline, bus, "w1", batch=8, block_ms=10).run(until_idle=True)
    assert (stats.ticks, stats.decided) == (5, 1)
    assert seen_at_submit == [BARS[SESSION_DAY + 5].time]


async def test_a_critical_event_behind_a_backlog_of_ticks_is_handled_before_them(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus()
    for event in ticks(SESSION_DAY + 1, 100):
        await bus.publish(event)
    await bus.publish({**signal("urgent", BARS[SESSION_DAY]), "priority": "critical"})
    worker = Worker(pipeline, bus, "w1", tick_batch=16, block_ms=10)
    ticks_applied: list[tuple[int, int]] = []  # (when its session began, when it ended)
    real_submit = pipeline.submit

    async def submit(event: Any, knobs: Any = None) -> DecisionRecord:
        began = worker.stats.ticks
        decision = await real_submit(event, knobs)
        ticks_applied.append((began, worker.stats.ticks))
        return decision

    monkeypatch.setattr(pipeline, "submit", submit)
    stats = await worker.run(until_idle=True)
    assert ticks_applied == [(0, 0)]  # first, and no tick shared the process with it
    assert (stats.ticks, stats.decided) == (100, 1)


async def test_ticks_wait_for_a_long_higher_class_session_only_up_to_tick_yield(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus()
    await bus.publish({**signal("slow-urgent", BARS[SESSION_DAY]), "priority": "high"})
    for event in ticks(SESSION_DAY + 1, 10):
        await bus.publish(event)
    worker = Worker(pipeline, bus, "w1", batch=16, tick_yield_s=0.05, block_ms=10)
    real_submit = pipeline.submit

    async def slow(event: Any, knobs: Any = None) -> DecisionRecord:
        for _ in range(300):  # a slow model: it ends only once the ticks have gone ahead without it
            if worker.stats.ticks == 10:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the ticks waited for the whole session")  # the worker counts it as failed
        return await real_submit(event, knobs)

    monkeypatch.setattr(pipeline, "submit", slow)
    stats = await asyncio.wait_for(worker.run(until_idle=True), 30)
    assert (stats.ticks, stats.decided) == (10, 1)


async def test_a_tick_not_after_its_symbols_last_bar_is_dead_lettered_and_a_redelivered_one_acked(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus()
    stale = tick_event(SYMBOL, BARS[SESSION_DAY - 150])  # older than the stored window: not a redelivery
    again = tick_event(SYMBOL, BARS[SESSION_DAY])  # the stored last bar: applied before, delivered again
    for event in [stale, again, *ticks(SESSION_DAY + 1, 2)]:
        await bus.publish(event)
    stats = await Worker(pipeline, bus, "w1", block_ms=10).run(until_idle=True)
    assert (stats.ticks, stats.ticks_refused, stats.failed) == (2, 1, 0)
    (dead,) = await bus.dead_letters()
    assert dead["event"]["id"] == stale["id"] and "tick refused" in (dead["error"] or "")
    assert "not after the last one" in (dead["error"] or "")
    assert await bus.pending_count() == 0


async def test_a_tick_that_cannot_be_applied_stays_pending_with_the_rest_of_its_batch(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=60_000))
    for event in ticks(SESSION_DAY + 1, 4):
        await bus.publish(event)
    worker = Worker(pipeline, bus, "w1", batch=4, block_ms=10)
    feed = pipeline.market_feed()
    real_bar = feed.bar
    calls = 0

    async def store_down_on_the_third(symbol: str, bar: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StoreUnavailableError("PostgreSQL is restarting")
        await real_bar(symbol, bar)

    monkeypatch.setattr(feed, "bar", store_down_on_the_third)
    monkeypatch.setattr(pipeline, "market_feed", lambda **_: feed)
    stats = await worker.run(until_idle=True)
    assert (stats.ticks, stats.failed) == (2, 2)
    assert await last_bar_time(pipeline) == BARS[SESSION_DAY + 2].time  # the fourth was not applied out of order
    assert await bus.pending_count() == 2 and await bus.dead_letters() == []


async def test_an_invalid_tick_is_recorded_as_rejected_by_a_session(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus()
    broken = {**ticks(SESSION_DAY + 1, 1)[0], "id": "broken-tick", "payload": {"bar": {"close": -1}}}
    await bus.publish(broken)
    stats = await Worker(pipeline, bus, "w1", block_ms=10).run(until_idle=True)
    assert (stats.ticks, stats.rejected) == (0, 1)
    decision = await pipeline.services.store.get_decision("broken-tick")
    assert decision is not None and decision.outcome is Outcome.REJECTED
    assert [d["event"]["id"] for d in await bus.dead_letters()] == ["broken-tick"]
