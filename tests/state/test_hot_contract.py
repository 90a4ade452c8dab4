"""The hot store contract: the in-memory store and the Redis store give the same answers.

Every contract test runs on both. The Redis runs need Redis on 127.0.0.1:6379 and work under a unique key
prefix per test, deleted afterwards; they skip without the server unless AEGIS_REQUIRE_SERVICES=1.
TTLs run on the injected clock in memory and on the server's clock in Redis: `elapse` moves the one that counts.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import RedisError

from state.clock import SimulatedClock
from state.events import Bar
from state.hot import HotStore, HotStoreError, InMemoryHotStore
from state.redis_hot import RedisHotStore, redis_client, time_key
from tests.services import require_service

REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
TTL_S = 0.15  # short, yet several times Redis's millisecond resolution


def bar_at(moment: datetime, close: float = 100.0) -> Bar:
    return Bar(time=moment, open=close, high=close + 1, low=close - 1, close=close, volume=1_000)


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


async def redis_or_skip() -> Redis:
    client = redis_client(REDIS_URL, socket_timeout_s=2.0, connect_timeout_s=0.5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        require_service("Redis", False, f"{REDIS_URL}: {exc}")
        raise
    return client


async def delete_prefix(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
    if keys:
        await client.delete(*keys)


@dataclass
class Harness:
    make: Callable[..., HotStore]  # make(window=120, namespace="main") -> a store
    elapse: Callable[[float], Awaitable[None]]  # let this many seconds pass for TTLs


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = SimulatedClock(T0)

        async def advance(seconds: float) -> None:
            clock.advance(timedelta(seconds=seconds))

        yield Harness(lambda window=120, namespace="main": InMemoryHotStore(clock, window=window), advance)
        return

    client = await redis_or_skip()
    prefix = f"aegis:test:hot:{uuid.uuid4().hex}"

    def make(window: int = 120, namespace: str = "main") -> RedisHotStore:
        return RedisHotStore(client, window=window, prefix=f"{prefix}:{namespace}")

    try:
        yield Harness(make, asyncio.sleep)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


# ---- bars -----------------------------------------------------------------------------------------


async def test_bars_come_back_oldest_first_as_they_were_pushed(hot: Harness) -> None:
    store = hot.make()
    pushed = [bar_at(minute(i), close=100 + i) for i in range(5)]
    for bar in pushed:
        await store.push_bar("AAPL", bar)
    assert await store.bars("AAPL") == tuple(pushed)


async def test_a_symbol_never_pushed_has_no_bars(hot: Harness) -> None:
    assert await hot.make().bars("MSFT") == ()


async def test_the_window_keeps_the_newest_bars(hot: Harness) -> None:
    store = hot.make(window=3)
    for i in range(7):
        await store.push_bar("AAPL", bar_at(minute(i), close=100 + i))
    assert [b.time for b in await store.bars("AAPL")] == [minute(4), minute(5), minute(6)]


async def test_each_symbol_has_its_own_window(hot: Harness) -> None:
    store = hot.make(window=2)
    await store.push_bar("AAPL", bar_at(minute(0), close=10))
    await store.push_bar("BRK.B", bar_at(minute(0), close=20))
    await store.push_bar("AAPL", bar_at(minute(1), close=11))
    assert [b.close for b in await store.bars("AAPL")] == [10, 11]
    assert [b.close for b in await store.bars("BRK.B")] == [20]


async def test_a_snapshot_answers_what_the_single_reads_answer(hot: Harness) -> None:
    store = hot.make(window=3)
    for i in range(4):
        await store.push_bar("AAPL", bar_at(minute(i), close=100 + i))
    await store.push_bar("MSFT", bar_at(minute(0), close=50))
    await store.set_value("vix", 17.5)
    await store.set_value("mode", "paper")
    snapshot = await store.snapshot(["AAPL", "TSLA"], ["MSFT", "AAPL", "NVDA"], ["vix", "missing", "mode"])
    assert snapshot.bars == {"AAPL": await store.bars("AAPL"), "TSLA": ()}
    assert [b.close for b in snapshot.bars["AAPL"]] == [101, 102, 103]
    last_msft = (await store.bars("MSFT"))[-1]
    assert snapshot.last_bars == {"MSFT": last_msft, "AAPL": snapshot.bars["AAPL"][-1], "NVDA": None}
    assert snapshot.values == {"vix": 17.5, "missing": None, "mode": "paper"}
    assert await store.snapshot([], [], []) == type(snapshot)({}, {}, {})


@pytest.mark.parametrize(
    "late",
    [
        pytest.param(minute(2), id="same-time"),
        pytest.param(minute(1), id="earlier"),
        pytest.param(minute(2).astimezone(timezone(timedelta(hours=-5))), id="same-instant-other-offset"),
    ],
)
async def test_a_bar_not_after_the_last_one_is_refused_and_changes_nothing(hot: Harness, late: datetime) -> None:
    store = hot.make()
    await store.push_bar("AAPL", bar_at(minute(0)))
    await store.push_bar("AAPL", bar_at(minute(2)))
    before = await store.bars("AAPL")
    with pytest.raises(ValueError, match=r"AAPL: bar at .* is not after the last one"):
        await store.push_bar("AAPL", bar_at(late, close=7.0))
    assert await store.bars("AAPL") == before


async def test_a_bar_one_microsecond_later_is_accepted_even_at_another_offset(hot: Harness) -> None:
    store = hot.make()
    await store.push_bar("AAPL", bar_at(minute(0)))
    later = (minute(0) + timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=9)))
    await store.push_bar("AAPL", bar_at(later))
    assert len(await store.bars("AAPL")) == 2


async def test_refusal_still_holds_once_the_window_is_full(hot: Harness) -> None:
    store = hot.make(window=1)
    await store.push_bar("AAPL", bar_at(minute(0)))
    await store.push_bar("AAPL", bar_at(minute(5)))
    with pytest.raises(ValueError, match="not after the last one"):
        await store.push_bar("AAPL", bar_at(minute(3)))
    assert [b.time for b in await store.bars("AAPL")] == [minute(5)]


async def test_concurrent_writers_of_the_same_bar_time_append_it_once(hot: Harness) -> None:
    store = hot.make()
    await store.push_bar("AAPL", bar_at(minute(0)))
    results = await asyncio.gather(
        *(store.push_bar("AAPL", bar_at(minute(1), close=100 + i)) for i in range(12)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, ValueError) for r in results if r is not None)
    assert [b.time for b in await store.bars("AAPL")] == [minute(0), minute(1)]


async def test_a_window_below_one_is_refused(hot: Harness) -> None:
    with pytest.raises(ValueError, match="window"):
        hot.make(window=0)


# ---- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        14.25,
        0.1,
        -3,
        2**53 + 1,
        "guerrilla",
        "ünïcödé ✓",
        True,
        [],
        ["limit", "market", "limit"],
        {"equity": 100_000.5, "nested": {"list": [1, 2.5, None, False], "empty": {}}},
    ],
)
async def test_values_round_trip_as_json(hot: Harness, value: Any) -> None:
    store = hot.make()
    await store.set_value("book:thing", value)
    assert await store.get_value("book:thing") == value


async def test_a_missing_value_is_none(hot: Harness) -> None:
    assert await hot.make().get_value("market:vix") is None


async def test_setting_a_value_again_replaces_it(hot: Harness) -> None:
    store = hot.make()
    await store.set_value("market:vix", 14.0)
    await store.set_value("market:vix", 31.5)
    assert await store.get_value("market:vix") == 31.5


async def test_a_value_without_ttl_does_not_expire(hot: Harness) -> None:
    store = hot.make()
    await store.set_value("ops:mode", "paper")
    await hot.elapse(TTL_S * 2)
    assert await store.get_value("ops:mode") == "paper"


async def test_a_value_is_there_until_its_ttl_passes_then_gone(hot: Harness) -> None:
    store = hot.make()
    await store.set_value("market:vix", 14.0, ttl_s=TTL_S)
    assert await store.get_value("market:vix") == 14.0
    await hot.elapse(TTL_S * 2)
    assert await store.get_value("market:vix") is None


async def test_a_long_ttl_keeps_the_value_through_a_short_wait(hot: Harness) -> None:
    store = hot.make()
    await store.set_value("market:vix", 14.0, ttl_s=60)
    await hot.elapse(TTL_S)
    assert await store.get_value("market:vix") == 14.0


async def test_setting_again_without_ttl_removes_the_ttl(hot: Harness) -> None:
    store = hot.make()
    await store.set_value("market:vix", 14.0, ttl_s=TTL_S)
    await store.set_value("market:vix", 15.0)
    await hot.elapse(TTL_S * 2)
    assert await store.get_value("market:vix") == 15.0


@pytest.mark.parametrize("ttl_s", [0.0, -1.0])
async def test_a_ttl_of_zero_or_less_means_already_expired(hot: Harness, ttl_s: float) -> None:
    store = hot.make()
    await store.set_value("market:vix", 14.0)
    await store.set_value("market:vix", 15.0, ttl_s=ttl_s)
    assert await store.get_value("market:vix") is None


async def test_namespaces_do_not_see_each_other(hot: Harness) -> None:
    first, second = hot.make(namespace="a"), hot.make(namespace="b")
    await first.set_value("market:vix", 14.0)
    await first.push_bar("AAPL", bar_at(minute(0)))
    assert await second.get_value("market:vix") is None
    assert await second.bars("AAPL") == ()
    await second.push_bar("AAPL", bar_at(minute(-10)))  # its own window: an older bar is fine there
    assert [b.time for b in await first.bars("AAPL")] == [minute(0)]


# ---- Redis only: the encoding behind the contract ---------------------------------------------------

offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
)
aware = st.datetimes(timezones=offsets)


@given(aware, aware)
def test_time_keys_sort_exactly_like_the_instants(a: datetime, b: datetime) -> None:
    assert (time_key(a) < time_key(b)) == (a < b)
    assert (time_key(a) == time_key(b)) == (a == b)


def test_a_naive_bar_time_has_no_key() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        time_key(datetime(2024, 1, 1))


@pytest.mark.services
async def test_redis_refuses_and_keeps_exactly_what_memory_does_for_random_bar_streams() -> None:
    client = await redis_or_skip()
    prefix = f"aegis:test:hot:{uuid.uuid4().hex}"
    rng = random.Random(20241101)
    try:
        for run in range(25):
            memory = InMemoryHotStore(SimulatedClock(T0), window=4)
            redis = RedisHotStore(client, window=4, prefix=f"{prefix}:{run}")
            for _ in range(30):
                moment = minute(rng.randint(0, 40)).astimezone(timezone(timedelta(hours=rng.randint(-12, 12))))
                outcomes = []
                for store in (memory, redis):
                    try:
                        await store.push_bar("AAPL", bar_at(moment))
                        outcomes.append("accepted")
                    except ValueError:
                        outcomes.append("refused")
                assert outcomes[0] == outcomes[1]
            assert await redis.bars("AAPL") == await memory.bars("AAPL")
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@pytest.mark.services
async def test_a_value_that_is_not_json_is_an_error_not_a_missing_value() -> None:
    client = await redis_or_skip()
    store = RedisHotStore(client, prefix=f"aegis:test:hot:{uuid.uuid4().hex}")
    try:
        await client.set(store.value_key("market:vix"), "{not json")
        with pytest.raises(HotStoreError, match="does not hold JSON"):
            await store.get_value("market:vix")
    finally:
        await delete_prefix(client, store.prefix)
        await client.aclose()


@pytest.mark.services
async def test_redis_layout_is_one_list_per_symbol_and_one_string_per_value() -> None:
    client = await redis_or_skip()
    store = RedisHotStore(client, window=2, prefix=f"aegis:test:hot:{uuid.uuid4().hex}")
    try:
        for i in range(3):
            await store.push_bar("AAPL", bar_at(minute(i)))
        await store.set_value("market:vix", 14.0, ttl_s=60)
        assert await client.type(store.bars_key("AAPL")) == "list"
        assert await client.llen(store.bars_key("AAPL")) == 2
        assert await client.get(store.value_key("market:vix")) == "14.0"
        assert 0 < await client.pttl(store.value_key("market:vix")) <= 60_000
    finally:
        await delete_prefix(client, store.prefix)
        await client.aclose()


@pytest.mark.services
async def test_a_window_entry_holding_two_bars_is_malformed_not_two_bars() -> None:
    client = await redis_or_skip()
    store = RedisHotStore(client, prefix=f"aegis:test:hot:{uuid.uuid4().hex}")
    try:
        await store.push_bar("AAPL", bar_at(minute(0)))
        two = bar_at(minute(1)).model_dump_json() + "," + bar_at(minute(2)).model_dump_json()
        await client.rpush(store.bars_key("AAPL"), time_key(minute(1)) + "|" + two)
        with pytest.raises(HotStoreError, match="malformed bar entry"):
            await store.bars("AAPL")
        with pytest.raises(HotStoreError, match="malformed bar entry"):
            await store.snapshot(["AAPL"], [], [])
    finally:
        await delete_prefix(client, store.prefix)
        await client.aclose()
