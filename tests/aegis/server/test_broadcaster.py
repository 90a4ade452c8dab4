"""The live stream's fan-out: bounded per subscriber, a slow subscriber loses its oldest updates (and is told),
publishing never waits, a subscriber that leaves is removed."""

from __future__ import annotations

import asyncio

import pytest

from aegis.server.broadcaster import Broadcaster


async def test_a_full_queue_drops_the_oldest_and_says_how_many() -> None:
    broadcaster = Broadcaster(4)
    subscription = broadcaster.subscribe()
    for n in range(10):
        broadcaster.publish("decision", {"n": n})
    assert subscription.pending == 4
    assert subscription.take_dropped() == 6
    assert subscription.take_dropped() == 0
    kept = [await subscription.next() for _ in range(4)]
    assert [u.data["n"] for u in kept if u is not None] == [6, 7, 8, 9]


async def test_a_slow_subscriber_loses_updates_while_a_fast_one_gets_them_all() -> None:
    broadcaster = Broadcaster(8)
    fast, slow = broadcaster.subscribe(), broadcaster.subscribe()
    seen = []
    for n in range(100):
        broadcaster.publish("decision", {"n": n})  # never waits, whoever is behind
        update = await fast.next()
        assert update is not None
        seen.append(update.data["n"])
    assert seen == list(range(100))
    assert slow.pending == 8 and slow.take_dropped() == 92


async def test_leaving_removes_the_subscriber_and_the_last_one_stops_the_feeder() -> None:
    calls: list[str] = []
    broadcaster = Broadcaster(4, on_first=lambda: calls.append("first"), on_last=lambda: calls.append("last"))

    async def watch_until_the_client_leaves() -> None:
        async with broadcaster.subscription():
            async with broadcaster.subscription():
                assert broadcaster.subscribers == 2
            assert broadcaster.subscribers == 1
            raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await watch_until_the_client_leaves()
    assert broadcaster.subscribers == 0
    assert calls == ["first", "last"]
    broadcaster.publish("alert", {"id": 1})  # nobody listens: nothing held, nothing fails


async def test_a_waiting_subscriber_is_woken_by_a_publish_and_ended_by_close() -> None:
    broadcaster = Broadcaster(4)
    subscription = broadcaster.subscribe()
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    broadcaster.publish("status", {"trading": "halted"})
    update = await asyncio.wait_for(waiting, 1)
    assert update is not None and update.kind == "status"
    ended = asyncio.create_task(subscription.next())
    broadcaster.close()
    assert await asyncio.wait_for(ended, 1) is None
    assert broadcaster.subscribers == 0


async def test_primed_waits_for_the_feeder_and_is_cleared_when_nobody_watches() -> None:
    broadcaster = Broadcaster(4)
    subscription = broadcaster.subscribe()
    assert not await broadcaster.primed(0.01)
    broadcaster.mark_primed()
    assert await broadcaster.primed(0.01)
    broadcaster.unsubscribe(subscription)
    assert not await broadcaster.primed(0.01)


def test_a_queue_must_hold_something() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        Broadcaster(0)
