"""The event bus contract: the in-process bus and the Redis Streams bus keep the same promises.

Every contract test runs on both. The Redis runs need Redis on 127.0.0.1:6379 and use a fresh stream (and its
dead-letter stream and errors hash) per test, deleted afterwards; they skip without the server unless
AEGIS_REQUIRE_SERVICES=1. Idle time runs on an injected millisecond source in memory and on the server's
clock in Redis: `elapse` moves the one that counts.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from state.bus import BusClosedError, BusPolicy, Delivery, EventBus, InMemoryBus, RedisStreamsBus
from state.redis_hot import redis_client
from tests.services import require_service

REDIS_URL = "redis://127.0.0.1:6379/0"
CLAIM_MS = 60  # idle time before a pending entry may be claimed, in these tests
POLICY = BusPolicy(claim_idle_ms=CLAIM_MS, max_deliveries=5)


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{n}",
        "type": "NEWS",
        "source": "test",
        "event_time": datetime(2024, 3, 1, tzinfo=UTC).isoformat(),
        "payload": {"headline": f"headline {n}"},
        **extra,
    }


async def redis_or_skip() -> Redis:
    client = redis_client(REDIS_URL, socket_timeout_s=5.0, connect_timeout_s=0.5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        require_service("Redis", False, f"{REDIS_URL}: {exc}")
        raise
    return client


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    make: Callable[..., EventBus]  # make(policy=POLICY) -> a handle on this test's bus
    elapse: Callable[[float], Awaitable[None]]  # let this many milliseconds of idle time pass


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
async def bus_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    opened: list[EventBus] = []
    if request.param == "memory":
        clock = FakeMonotonic()

        async def advance(ms: float) -> None:
            clock.now += ms

        def make_memory(policy: BusPolicy = POLICY) -> EventBus:
            # One process, one bus: every handle is the same object (its policy set by the first call).
            if not opened:
                opened.append(InMemoryBus(policy, now_ms=clock))
            return opened[0]

        yield Harness(make_memory, advance)
        for bus in opened:
            await bus.close()
        return

    client = await redis_or_skip()
    stream = f"aegis:test:bus:{uuid.uuid4().hex}"

    def make_redis(policy: BusPolicy = POLICY) -> EventBus:
        opened.append(RedisStreamsBus(client, stream=stream, group="workers", policy=policy))
        return opened[-1]

    async def sleep_ms(ms: float) -> None:
        await asyncio.sleep(ms / 1000 + 0.01)

    try:
        yield Harness(make_redis, sleep_ms)
    finally:
        for bus in opened:
            await bus.close()
        await client.delete(*RedisStreamsBus(client, stream=stream).keys)
        await client.aclose()


async def drain(bus: EventBus, consumer: str, count: int = 16) -> list[Delivery]:
    """Everything `consumer` can get right now, without waiting."""
    got: list[Delivery] = []
    while batch := await bus.receive(consumer, count=count, block_ms=0):
        got.extend(batch)
    return got


# ---- publish, receive, ack ----------------------------------------------------------------------


async def test_published_events_are_received_as_published_and_gone_once_acked(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    ids = [await bus.publish(event(n)) for n in range(3)]
    got = await bus.receive("w1", count=10, block_ms=0)
    assert [d.message_id for d in got] == ids
    assert [d.event for d in got] == [event(n) for n in range(3)]
    assert all(d.deliveries == 1 for d in got)
    for delivery in got:
        await bus.ack(delivery)
    assert await bus.pending_count() == 0
    await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("w2", block_ms=0) == []


async def test_events_published_before_any_consumer_are_delivered(bus_harness: Harness) -> None:
    publisher = bus_harness.make()
    await publisher.publish(event(1))
    worker = bus_harness.make()
    assert [d.event["id"] for d in await worker.receive("w1", block_ms=0)] == ["evt-1"]


async def test_events_round_trip_as_json(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    sent = event(1, payload={"headline": "ünïcödé ✓", "body": "x" * 5_000}, symbols=["BRK.B"], extra=[1, 2.5, None])
    await bus.publish(sent)
    (delivery,) = await bus.receive("w1", block_ms=0)
    assert delivery.event == sent


async def test_non_finite_numbers_travel_so_validation_can_refuse_them(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1, strength=float("nan")))
    (delivery,) = await bus.receive("w1", block_ms=0)
    assert math.isnan(delivery.event["strength"])


async def test_an_event_that_is_not_json_is_refused_at_publish(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    with pytest.raises(TypeError):
        await bus.publish(event(1, event_time=datetime(2024, 3, 1, tzinfo=UTC)))
    assert await bus.receive("w1", block_ms=0) == []


async def test_each_delivery_is_a_fresh_copy(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1))
    (first,) = await bus.receive("w1", block_ms=0)
    first.event["payload"]["headline"] = "edited by a careless caller"
    await bus_harness.elapse(CLAIM_MS * 2)
    (second,) = await bus.receive("w2", block_ms=0)
    assert second.event == event(1)


async def test_a_consumer_receives_entries_in_publish_order(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    ids = [await bus.publish(event(n)) for n in range(20)]
    got = await drain(bus, "w1", count=7)
    assert [d.message_id for d in got] == ids
    assert [d.event["id"] for d in got] == [f"evt-{n}" for n in range(20)]


async def test_two_consumers_never_both_receive_the_same_new_entry(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    ids = {await bus.publish(event(n)) for n in range(40)}
    batches = await asyncio.gather(*(bus.receive(f"w{i % 2}", count=3, block_ms=0) for i in range(20)))
    seen = [d.message_id for batch in batches for d in batch]
    assert len(seen) == len(set(seen)) == 40
    assert set(seen) == ids


async def test_receive_waits_up_to_block_ms_for_a_new_event(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    waiting = asyncio.create_task(bus.receive("w1", block_ms=3_000))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await bus.publish(event(1))
    got = await waiting
    assert [d.event["id"] for d in got] == ["evt-1"]
    assert time.monotonic() - started < 1.5


async def test_receive_with_nothing_to_hand_out_returns_empty_after_block_ms(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    started = time.monotonic()
    assert await bus.receive("w1", block_ms=100) == []
    assert 0.05 <= time.monotonic() - started < 1.5


@pytest.mark.parametrize("count", [0, -1])
async def test_a_count_below_one_is_refused(bus_harness: Harness, count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        await bus_harness.make().receive("w1", count=count, block_ms=0)


# ---- pending entries, claims, redelivery -----------------------------------------------------------


async def test_pending_count_counts_delivered_entries_neither_acked_nor_dead_lettered(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    for n in range(5):
        await bus.publish(event(n))
    assert await bus.pending_count() == 0  # published, not yet delivered
    got = await bus.receive("w1", count=3, block_ms=0)
    assert await bus.pending_count() == 3
    await bus.ack(got[0])
    assert await bus.pending_count() == 2
    await bus.dead_letter(got[1], "invalid")
    assert await bus.pending_count() == 1
    await bus.fail(got[2], "provider timeout")
    assert await bus.pending_count() == 1


async def test_backlog_counts_entries_never_delivered_over_every_class(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    assert await bus.backlog_count() == 0
    for n in range(4):
        await bus.publish(event(n))
    await bus.publish({**event(9), "priority": "critical"})
    assert await bus.backlog_count() == 5
    got = await bus.receive("w1", count=2, block_ms=0)  # the critical one, then the first normal one
    assert await bus.backlog_count() == 3
    await bus.fail(got[0], "timeout")  # pending, not backlog
    assert (await bus.backlog_count(), await bus.pending_count()) == (3, 2)


async def test_dead_letter_count_counts_every_dead_letter(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    for n in range(3):
        await bus.publish(event(n))
    got = await bus.receive("w1", count=3, block_ms=0)
    assert await bus.dead_letter_count() == 0
    await bus.dead_letter(got[0], "invalid")
    await bus.dead_letter(got[1], "invalid")
    await bus.ack(got[2])
    assert await bus.dead_letter_count() == 2 == len(await bus.dead_letters())


async def test_entries_pending_on_a_dead_consumer_are_claimed_after_claim_idle_ms(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    ids = [await bus.publish(event(n)) for n in range(3)]
    assert len(await bus.receive("doomed", count=3, block_ms=0)) == 3  # ... and it dies without acking
    assert await bus.receive("survivor", block_ms=0) == []  # not idle long enough yet
    await bus_harness.elapse(CLAIM_MS * 2)
    claimed = await bus.receive("survivor", block_ms=0)
    assert [d.message_id for d in claimed] == ids
    assert all(d.deliveries == 2 for d in claimed)
    for delivery in claimed:
        await bus.ack(delivery)
    assert await bus.pending_count() == 0


async def test_a_restarted_consumer_gets_its_own_idle_entries_back(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1))
    await bus.receive("w1", block_ms=0)
    await bus_harness.elapse(CLAIM_MS * 2)
    (again,) = await bus.receive("w1", block_ms=0)
    assert (again.event["id"], again.deliveries) == ("evt-1", 2)


async def test_claimed_entries_come_first_then_new_ones(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    old = [await bus.publish(event(n)) for n in range(2)]
    await bus.receive("doomed", count=2, block_ms=0)
    await bus_harness.elapse(CLAIM_MS * 2)
    new = [await bus.publish(event(n)) for n in range(2, 4)]
    got = await bus.receive("survivor", count=10, block_ms=0)
    assert [d.message_id for d in got] == old + new
    assert [d.deliveries for d in got] == [2, 2, 1, 1]


async def test_count_bounds_claims_and_the_rest_stay_claimable(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    ids = [await bus.publish(event(n)) for n in range(3)]
    await bus.receive("doomed", count=3, block_ms=0)
    await bus_harness.elapse(CLAIM_MS * 2)
    first = await bus.receive("a", count=2, block_ms=0)
    second = await bus.receive("b", count=2, block_ms=0)
    assert [d.message_id for d in first] == ids[:2]
    assert [d.message_id for d in second] == ids[2:]
    assert [d.deliveries for d in first + second] == [2, 2, 2]


async def test_each_redelivery_counts_one_more_delivery(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1))
    counts = []
    for consumer in ("a", "b", "c", "a", "b"):
        (delivery,) = await bus.receive(consumer, block_ms=0)
        counts.append(delivery.deliveries)
        await bus_harness.elapse(CLAIM_MS * 2)
    assert counts == [1, 2, 3, 4, 5]


async def test_a_failed_entry_stays_pending_and_comes_back_after_claim_idle_ms(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1))
    (first,) = await bus.receive("w1", block_ms=0)
    await bus.fail(first, "LLM provider timed out")
    assert await bus.pending_count() == 1
    assert await bus.receive("w2", block_ms=0) == []
    await bus_harness.elapse(CLAIM_MS * 2)
    (retry,) = await bus.receive("w2", block_ms=0)
    assert (retry.message_id, retry.deliveries) == (first.message_id, 2)
    await bus.ack(retry)
    assert await bus.pending_count() == 0
    assert await bus.dead_letters() == []


# ---- dead letters ---------------------------------------------------------------------------------


async def test_an_entry_delivered_more_than_max_deliveries_goes_to_dead_letters_with_its_last_error(
    bus_harness: Harness,
) -> None:
    bus = bus_harness.make(BusPolicy(claim_idle_ms=CLAIM_MS, max_deliveries=2))
    message_id = await bus.publish(event(1))
    for attempt in (1, 2):
        (delivery,) = await bus.receive("w1", block_ms=0)
        assert delivery.deliveries == attempt
        await bus.fail(delivery, f"attempt {attempt} failed")
        await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("w1", block_ms=0) == []
    assert await bus.pending_count() == 0
    assert await bus.dead_letters() == [
        {
            "message_id": message_id,
            "event": event(1),
            "error": "attempt 2 failed",
            "deliveries": 3,
            "reason": "max_deliveries",
        }
    ]


async def test_an_entry_that_only_ever_crashed_consumers_dead_letters_without_an_error(bus_harness: Harness) -> None:
    bus = bus_harness.make(BusPolicy(claim_idle_ms=CLAIM_MS, max_deliveries=1))
    await bus.publish(event(1))
    await bus.receive("crashes", block_ms=0)
    await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("w2", block_ms=0) == []
    (record,) = await bus.dead_letters()
    assert (record["error"], record["deliveries"], record["reason"]) == (None, 2, "max_deliveries")


async def test_dead_letter_moves_an_invalid_event_at_once_and_acks_it(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    message_id = await bus.publish(event(1, type="NOT_A_TYPE"))
    (delivery,) = await bus.receive("w1", block_ms=0)
    await bus.dead_letter(delivery, "type: unknown event type 'NOT_A_TYPE'")
    assert await bus.pending_count() == 0
    await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("w2", block_ms=0) == []
    assert await bus.dead_letters() == [
        {
            "message_id": message_id,
            "event": event(1, type="NOT_A_TYPE"),
            "error": "type: unknown event type 'NOT_A_TYPE'",
            "deliveries": 1,
            "reason": "rejected",
        }
    ]


async def test_acking_twice_or_after_a_dead_letter_changes_nothing(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    for n in range(2):
        await bus.publish(event(n))
    acked, buried = await bus.receive("w1", count=2, block_ms=0)
    await bus.ack(acked)
    await bus.ack(acked)
    await bus.dead_letter(buried, "invalid")
    await bus.ack(buried)
    await bus.dead_letter(buried, "invalid again")
    await bus.fail(acked, "too late")
    assert await bus.pending_count() == 0
    assert [r["error"] for r in await bus.dead_letters()] == ["invalid"]


async def test_dead_letters_come_oldest_first_up_to_limit(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    for n in range(4):
        await bus.publish(event(n))
    for delivery in await bus.receive("w1", count=4, block_ms=0):
        await bus.dead_letter(delivery, f"bad {delivery.event['id']}")
    assert [r["error"] for r in await bus.dead_letters(limit=3)] == ["bad evt-0", "bad evt-1", "bad evt-2"]


async def test_a_closed_bus_refuses_work(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.close()
    with pytest.raises(BusClosedError):
        await bus.publish(event(1))
    with pytest.raises(BusClosedError):
        await bus.receive("w1", block_ms=0)


# ---- priority classes ------------------------------------------------------------------------------


async def test_higher_classes_are_served_first_and_each_class_in_publish_order(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    classes = ["low", "normal", "critical", "high"] * 5
    for n, priority in enumerate(classes):
        await bus.publish(event(n, priority=priority))
    got = await drain(bus, "w1", count=3)
    served = [(d.event["priority"], d.event["id"]) for d in got]
    order = {"critical": 0, "high": 1, "normal": 2, "low": 3}
    expected = sorted(((p, f"evt-{n}") for n, p in enumerate(classes)), key=lambda pair: order[pair[0]])
    assert served == expected  # a stable sort: publish order kept within each class


async def test_an_input_without_a_valid_priority_is_served_as_normal(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1, priority="low"))
    await bus.publish(event(2, priority="urgent"))
    await bus.publish(event(3, priority=5))
    await bus.publish({"value": [1, 2]})  # not an event at all: still carried, to be recorded as rejected
    await bus.publish(event(4, priority="normal"))
    await bus.publish(event(5))
    await bus.publish(event(6, priority="high"))
    got = await drain(bus, "w1")
    assert [d.event.get("id") for d in got] == ["evt-6", "evt-2", "evt-3", None, "evt-4", "evt-5", "evt-1"]


async def test_a_critical_event_behind_a_backlog_is_the_next_one_received(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    for n in range(200):
        await bus.publish(event(n))
    first = await bus.receive("w1", count=10, block_ms=0)
    halt_id = await bus.publish(event(999, priority="critical"))
    (halt,) = await bus.receive("w1", count=1, block_ms=0)
    assert (halt.message_id, halt.event["id"]) == (halt_id, "evt-999")
    rest = await drain(bus, "w1", count=50)
    assert [d.event["id"] for d in first + rest] == [f"evt-{n}" for n in range(200)]


async def test_a_lower_class_waits_while_higher_ones_keep_coming_then_is_served(bus_harness: Harness) -> None:
    """Strict priority (`state.bus.base` says why): a low entry is not served while higher ones remain."""
    bus = bus_harness.make()
    await bus.publish(event(0, priority="low"))
    for n in range(1, 30):
        await bus.publish(event(n, priority="high" if n % 2 else "normal"))
        (delivery,) = await bus.receive("w1", count=1, block_ms=0)
        assert delivery.event["priority"] != "low"
        await bus.ack(delivery)
    (waited,) = await bus.receive("w1", count=1, block_ms=0)
    assert waited.event["id"] == "evt-0"


@pytest.mark.parametrize("priority", ["critical", "low"])
async def test_a_blocked_receive_wakes_for_an_event_of_any_class(bus_harness: Harness, priority: str) -> None:
    bus = bus_harness.make()
    waiting = asyncio.create_task(bus.receive("w1", block_ms=3_000))
    await asyncio.sleep(0.05)
    await bus.publish(event(1, priority=priority))
    got = await asyncio.wait_for(waiting, 2.0)
    assert [d.event["id"] for d in got] == ["evt-1"]


async def test_idle_entries_are_claimed_class_by_class_highest_first(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    await bus.publish(event(1, priority="normal"))
    await bus.publish(event(2, priority="high"))
    assert len(await bus.receive("doomed", count=2, block_ms=0)) == 2  # ... and it dies without acking
    await bus_harness.elapse(CLAIM_MS * 2)
    await bus.publish(event(3, priority="critical"))
    await bus.publish(event(4, priority="normal"))
    got = await bus.receive("survivor", count=10, block_ms=0)
    assert [(d.event["id"], d.deliveries) for d in got] == [("evt-3", 1), ("evt-2", 2), ("evt-1", 2), ("evt-4", 1)]


async def test_a_high_entry_over_max_deliveries_goes_to_the_dead_letters_under_its_own_id(bus_harness: Harness) -> None:
    bus = bus_harness.make(BusPolicy(claim_idle_ms=CLAIM_MS, max_deliveries=1))
    normal_id = await bus.publish(event(1))
    high_id = await bus.publish(event(2, priority="high"))
    assert normal_id != high_id
    await bus.receive("crashes", count=2, block_ms=0)
    await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("w2", block_ms=0) == []
    records = await bus.dead_letters()
    assert [(r["message_id"], r["event"]["id"], r["reason"]) for r in records] == [
        (high_id, "evt-2", "max_deliveries"),
        (normal_id, "evt-1", "max_deliveries"),
    ]


async def test_ack_many_acknowledges_entries_of_every_class_at_once(bus_harness: Harness) -> None:
    bus = bus_harness.make()
    for n, priority in enumerate(["low", "normal", "high", "critical", "normal"]):
        await bus.publish(event(n, priority=priority))
    got = await bus.receive("w1", count=10, block_ms=0)
    await bus.fail(got[0], "to be cleared by the ack")
    await bus.ack_many(got[:4])
    assert await bus.pending_count() == 1
    await bus.ack_many([])
    await bus.ack_many(got)  # acking again changes nothing
    assert await bus.pending_count() == 0
    await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("w2", block_ms=0) == []
    assert await bus.dead_letters() == []


# ---- nothing is lost ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [7, 11, 2024])
async def test_with_crashing_consumers_every_event_is_acked_once_or_dead_lettered(
    bus_harness: Harness, seed: int
) -> None:
    rng = random.Random(seed)
    policy = BusPolicy(claim_idle_ms=CLAIM_MS, max_deliveries=3)
    bus = bus_harness.make(policy)
    classes = ["critical", "high", "normal", "low"]
    published = {await bus.publish(event(n, priority=rng.choice(classes))): f"evt-{n}" for n in range(40)}
    acks: Counter[str] = Counter()
    buried_on_purpose: set[str] = set()

    for _ in range(400):
        consumer = rng.choice(["crashy-1", "crashy-2", "steady-1", "steady-2", "flaky"])
        for delivery in await bus.receive(consumer, count=rng.randint(1, 6), block_ms=0):
            assert 1 <= delivery.deliveries <= policy.max_deliveries
            if consumer.startswith("crashy"):
                continue  # dies holding the entry: never acks
            roll = rng.random()
            if consumer == "flaky" and roll < 0.5:
                await bus.fail(delivery, f"flaky failure on delivery {delivery.deliveries}")
            elif roll < 0.05:
                await bus.dead_letter(delivery, "invalid on purpose")
                buried_on_purpose.add(delivery.message_id)
            else:
                await bus.ack(delivery)
                acks[delivery.message_id] += 1
        dead = {r["message_id"] for r in await bus.dead_letters(limit=1_000)}
        if set(acks) | dead == set(published) and await bus.pending_count() == 0:
            break
        if rng.random() < 0.3:
            await bus_harness.elapse(CLAIM_MS * 1.5)
    else:
        pytest.fail("the bus never settled: some events are neither acked nor dead-lettered")

    records = await bus.dead_letters(limit=1_000)
    dead = {r["message_id"] for r in records}
    assert all(count == 1 for count in acks.values()), "an event was acked twice"
    assert not dead & set(acks), "an event was both acked and dead-lettered"
    assert set(acks) | dead == set(published), "an event was lost"
    assert len(records) == len(dead), "an event was dead-lettered twice"
    assert buried_on_purpose <= dead
    assert all(r["event"]["id"] == published[r["message_id"]] for r in records)
    await bus_harness.elapse(CLAIM_MS * 2)
    assert await bus.receive("steady-1", block_ms=0) == []


# ---- Redis only: the layout behind the contract ----------------------------------------------------


@pytest.mark.services
async def test_redis_keeps_unacked_work_in_the_stream_and_errors_in_a_hash_until_ack() -> None:
    client = await redis_or_skip()
    stream = f"aegis:test:bus:{uuid.uuid4().hex}"
    bus = RedisStreamsBus(client, stream=stream, group="workers", policy=POLICY)
    try:
        classes = (f"{stream}:critical", f"{stream}:high", stream, f"{stream}:low")
        assert bus.streams == classes
        assert bus.keys == (*classes, f"{stream}:dead", f"{stream}:errors")
        for n in range(3):
            await bus.publish(event(n))
        first, second, third = await bus.receive("w1", count=3, block_ms=0)
        await bus.fail(first, "boom")
        assert await client.hgetall(f"{stream}:errors") == {first.message_id: "boom"}
        await bus.ack(first)
        await bus.dead_letter(second, "invalid")
        assert await client.hgetall(f"{stream}:errors") == {}
        assert [entry_id for entry_id, _ in await client.xrange(stream) or []] == [third.message_id]
        assert await client.xlen(f"{stream}:dead") == 1
    finally:
        await client.delete(*bus.keys)
        await client.aclose()


@pytest.mark.services
async def test_redis_dead_letters_an_entry_a_foreign_producer_wrote_without_an_event() -> None:
    client = await redis_or_skip()
    stream = f"aegis:test:bus:{uuid.uuid4().hex}"
    bus = RedisStreamsBus(client, stream=stream, group="workers", policy=POLICY)
    try:
        foreign = await client.xadd(stream, {"price": "101.5"})
        good = await bus.publish(event(1))
        assert [d.message_id for d in await bus.receive("w1", block_ms=0)] == [good]
        (record,) = await bus.dead_letters()
        assert (record["message_id"], record["event"], record["reason"]) == (
            foreign,
            {"raw": {"price": "101.5"}},
            "undecodable",
        )
    finally:
        await client.delete(*bus.keys)
        await client.aclose()


@pytest.mark.services
async def test_redis_work_of_a_dead_process_is_claimed_by_another_process() -> None:
    stream = f"aegis:test:bus:{uuid.uuid4().hex}"
    dying = RedisStreamsBus.from_url(REDIS_URL, stream=stream, group="workers", policy=POLICY)
    survivor = RedisStreamsBus.from_url(REDIS_URL, stream=stream, group="workers", policy=POLICY)
    client = await redis_or_skip()
    try:
        ids = [await dying.publish(event(n)) for n in range(2)]
        assert len(await dying.receive("host-a", count=2, block_ms=0)) == 2
        await dying.close()  # the process is gone, its entries pending on "host-a"
        await asyncio.sleep(CLAIM_MS * 2 / 1000)
        claimed = await survivor.receive("host-b", block_ms=0)
        assert [(d.message_id, d.deliveries) for d in claimed] == [(i, 2) for i in ids]
    finally:
        await survivor.close()
        await client.delete(*survivor.keys)
        await client.aclose()


@pytest.mark.services
async def test_redis_keeps_each_class_in_its_own_stream_and_serves_entries_from_before_the_classes() -> None:
    client = await redis_or_skip()
    stream = f"aegis:test:bus:{uuid.uuid4().hex}"
    bus = RedisStreamsBus(client, stream=stream, group="workers", policy=POLICY)
    try:
        # Work left on the stream by a version without classes: plain ids, the normal class.
        old = await client.xadd(stream, {"event": json.dumps(event(0))})
        critical = await bus.publish(event(1, priority="critical"))
        low = await bus.publish(event(2, priority="low"))
        assert critical.startswith("critical:") and low.startswith("low:")
        assert await client.xlen(f"{stream}:critical") == 1 and await client.xlen(f"{stream}:low") == 1
        got = await bus.receive("w1", count=10, block_ms=0)
        assert [d.message_id for d in got] == [critical, old, low]
        await bus.fail(got[0], "boom")
        assert await client.hgetall(f"{stream}:errors") == {critical: "boom"}
        await bus.ack_many(got)
        assert [await client.xlen(key) for key in bus.streams] == [0, 0, 0, 0]
        assert await client.hgetall(f"{stream}:errors") == {}
        with pytest.raises(ValueError, match="not a message id"):
            await bus.ack(Delivery(message_id="urgent:1-0", event={}, deliveries=1))
    finally:
        await client.delete(*bus.keys)
        await client.aclose()


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.services)])
async def test_a_single_class_bus_serves_every_priority_in_publish_order(kind: str) -> None:
    """The bus as it was before classes, kept for comparisons (the priority benchmark's FIFO read)."""
    client = await redis_or_skip() if kind == "redis" else None
    stream = f"aegis:test:bus:{uuid.uuid4().hex}"
    bus: EventBus = (
        RedisStreamsBus(client, stream=stream, group="workers", policy=POLICY, single_class=True)
        if client is not None
        else InMemoryBus(POLICY, single_class=True)
    )
    try:
        for n, priority in enumerate(["low", "normal", "critical", "high"]):
            await bus.publish(event(n, priority=priority))
        got = await drain(bus, "w1", count=3)
        assert [d.event["id"] for d in got] == ["evt-0", "evt-1", "evt-2", "evt-3"]
        await bus.ack_many(got)
        assert await bus.pending_count() == 0
    finally:
        await bus.close()
        if client is not None:
            await client.delete(*RedisStreamsBus(client, stream=stream).keys)
            await client.aclose()
