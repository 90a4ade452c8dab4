"""The worker on the in-process bus: ack after persist, dead letters for invalid events, nothing lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aegis import Pipeline
from aegis.runtime.worker import Worker
from state.bus.base import BusPolicy, BusUnavailableError, Delivery
from state.bus.memory import InMemoryBus
from state.decisions import DecisionRecord
from state.store.base import StoreUnavailableError
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal

BARS = bundled_bars()


def events(n: int) -> list[dict[str, Any]]:
    return [signal(f"w-{i}", BARS[SESSION_DAY], direction="long" if i % 2 else "short") for i in range(n)]


async def test_a_worker_decides_every_event_and_dead_letters_only_the_invalid(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=0))
    good = events(20)
    bad = [{**good[0], "id": "bad-1", "type": "NOPE"}, {"id": "bad-2"}, {**good[1], "id": "bad-3", "source": ""}]
    for event in good + bad:
        await bus.publish(event)
    stats = await Worker(pipeline, bus, "w1", concurrency=4, block_ms=10).run(until_idle=True)
    assert (stats.decided, stats.rejected, stats.failed) == (20, 3, 0)
    assert await bus.pending_count() == 0
    dead = await bus.dead_letters()
    assert sorted(d["event"]["id"] for d in dead) == ["bad-1", "bad-2", "bad-3"]
    for event in good:
        assert await pipeline.services.store.get_decision(event["id"]) is not None


async def test_an_event_whose_session_fails_stays_pending_and_is_decided_later(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pipeline: Pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=100, max_deliveries=5))
    await bus.publish(events(1)[0])
    real_submit = pipeline.submit

    async def store_down(event: Any, knobs: Any = None) -> DecisionRecord:
        raise StoreUnavailableError("PostgreSQL is restarting")

    monkeypatch.setattr(pipeline, "submit", store_down)
    first = await Worker(pipeline, bus, "w1", block_ms=10).run(until_idle=True)
    assert (first.decided, first.failed) == (0, 1)
    assert await bus.pending_count() == 1, "not acknowledged: still on the bus"
    assert await pipeline.services.store.get_decision("w-0") is None

    monkeypatch.setattr(pipeline, "submit", real_submit)
    await asyncio.sleep(0.15)  # past the idle time: another worker may claim it
    second = await Worker(pipeline, bus, "w2", block_ms=10).run(until_idle=True)
    assert second.decided == 1
    assert await bus.pending_count() == 0 and await bus.dead_letters() == []
    assert await pipeline.services.store.get_decision("w-0") is not None


async def test_an_event_failing_every_time_ends_in_the_dead_letters_with_its_error(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=0, max_deliveries=3))
    await bus.publish(events(1)[0])

    async def always_down(event: Any, knobs: Any = None) -> DecisionRecord:
        raise StoreUnavailableError("disk full")

    monkeypatch.setattr(pipeline, "submit", always_down)
    worker = Worker(pipeline, bus, "w1", block_ms=10)
    for _ in range(4):
        await worker.run(until_idle=True)
    dead = await bus.dead_letters()
    assert len(dead) == 1 and "disk full" in (dead[0].get("error") or "")
    assert await bus.pending_count() == 0


class _AckFailsOnce(InMemoryBus):
    """A bus that loses its connection once, right when the first acknowledgement is sent."""

    def __init__(self, policy: BusPolicy) -> None:
        super().__init__(policy)
        self.failed_acks = 0

    async def ack(self, delivery: Delivery) -> None:
        if self.failed_acks == 0:
            self.failed_acks += 1
            raise BusUnavailableError("connection reset while acknowledging")
        await super().ack(delivery)


async def test_an_ack_lost_to_a_bus_outage_is_made_on_the_redelivery(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bus = _AckFailsOnce(BusPolicy(claim_idle_ms=50))
    await bus.publish(events(1)[0])
    first = await Worker(pipeline, bus, "w1", block_ms=10).run(until_idle=True)
    assert first.decided == 1 and await bus.pending_count() == 1  # decided, but the ack never arrived
    await asyncio.sleep(0.1)
    second = await Worker(pipeline, bus, "w2", block_ms=10).run(until_idle=True)
    assert second.decided == 1 and await bus.pending_count() == 0
    recorded = await pipeline.services.store.recent_outcomes(10)
    assert [d.event_id for d in recorded] == ["w-0"]  # one decision: the redelivery returned the recorded one


async def test_a_slow_session_holds_up_no_other_event_and_nothing_is_handled_twice(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=0))  # every pending entry looks idle at once
    good = events(9)
    for event in good:
        await bus.publish(event)
    real_submit = pipeline.submit
    release = asyncio.Event()
    submitted: list[str] = []
    decided_while_held: list[str] = []

    async def slow_first(event: Any, knobs: Any = None) -> DecisionRecord:
        submitted.append(event["id"])
        if event["id"] == "w-0":
            await release.wait()  # a session waiting on a slow model
        decision = await real_submit(event, knobs)
        if not release.is_set():
            decided_while_held.append(decision.event_id)
        if len(decided_while_held) == len(good) - 1:
            release.set()
        return decision

    monkeypatch.setattr(pipeline, "submit", slow_first)
    worker = Worker(pipeline, bus, "w1", concurrency=2, batch=2, block_ms=10)
    stats = await asyncio.wait_for(worker.run(until_idle=True), 30)  # a batch barrier would never end
    assert sorted(decided_while_held) == sorted(e["id"] for e in good[1:])  # all done beside the slow one
    assert sorted(submitted) == sorted(e["id"] for e in good)  # each exactly once: none claimed back
    assert stats.decided == len(good) and await bus.pending_count() == 0


async def test_a_stopped_worker_finishes_what_it_received(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bus = InMemoryBus(BusPolicy(claim_idle_ms=60_000))
    for event in events(6):
        await bus.publish(event)
    worker = Worker(pipeline, bus, "w1", concurrency=2, batch=3, block_ms=10)
    real_handle = worker.handle

    async def handle_then_stop(delivery: Delivery) -> None:
        worker.stop()  # SIGTERM as the first session starts
        await real_handle(delivery)

    worker.handle = handle_then_stop  # type: ignore[method-assign]
    stats = await worker.run()
    assert stats.decided == 3  # the first receive: finished, none left pending for a claim
    assert await bus.pending_count() == 0
