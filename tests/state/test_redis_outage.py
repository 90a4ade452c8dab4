"""Redis going away: the hot store and the bus raise their typed "unavailable" errors quickly, never hang,
and work again once Redis is back on the same port.

Each test starts its own throwaway `redis-server` (no persistence) on a free port and kills, freezes or
restarts it; the shared Redis on 6379 is never touched. Skips without the `redis-server` binary unless
AEGIS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from state.bus import BusPolicy, BusUnavailableError, RedisStreamsBus
from state.events import Bar
from state.hot import HotStoreUnavailableError
from state.redis_hot import RedisHotStore
from tests.services import require_service
from tests.throwaway import ThrowawayRedis, free_port

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
SOCKET_TIMEOUT_S = 0.5
QUICK_S = 3.0  # "does not hang": an outage must surface well within this


def bar_at(minutes: int) -> Bar:
    return Bar(time=T0 + timedelta(minutes=minutes), open=100, high=101, low=99, close=100.5, volume=1_000)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "the redis-server binary is not on PATH")
    assert binary is not None
    throwaway = ThrowawayRedis(binary, free_port(), tmp_path)
    throwaway.start()
    try:
        yield throwaway
    finally:
        throwaway.kill()


async def fails_quickly(operation: Awaitable[Any], error: type[Exception]) -> None:
    started = time.monotonic()
    with pytest.raises(error):
        await operation
    assert time.monotonic() - started < QUICK_S


@pytest.mark.services
async def test_the_hot_store_raises_unavailable_while_redis_is_dead_and_recovers_after_restart(
    server: ThrowawayRedis,
) -> None:
    store = RedisHotStore.from_url(server.url, socket_timeout_s=SOCKET_TIMEOUT_S, connect_timeout_s=SOCKET_TIMEOUT_S)
    try:
        await store.set_value("market:vix", 14.0)
        await store.push_bar("AAPL", bar_at(0))

        server.kill()
        await fails_quickly(store.get_value("market:vix"), HotStoreUnavailableError)
        await fails_quickly(store.set_value("market:vix", 15.0, ttl_s=60), HotStoreUnavailableError)
        await fails_quickly(store.bars("AAPL"), HotStoreUnavailableError)
        await fails_quickly(store.push_bar("AAPL", bar_at(1)), HotStoreUnavailableError)

        server.start()  # same port, empty (no persistence)
        assert await store.get_value("market:vix") is None
        await store.set_value("market:vix", 16.0)
        await store.push_bar("AAPL", bar_at(2))  # the Lua script is loaded again on its own
        assert await store.get_value("market:vix") == 16.0
        assert [b.time for b in await store.bars("AAPL")] == [bar_at(2).time]
    finally:
        await store.close()


@pytest.mark.services
async def test_a_frozen_redis_times_out_as_unavailable_instead_of_hanging(server: ThrowawayRedis) -> None:
    store = RedisHotStore.from_url(server.url, socket_timeout_s=SOCKET_TIMEOUT_S, connect_timeout_s=SOCKET_TIMEOUT_S)
    try:
        await store.set_value("market:vix", 14.0)
        server.freeze()
        await fails_quickly(store.get_value("market:vix"), HotStoreUnavailableError)
        await fails_quickly(store.push_bar("AAPL", bar_at(0)), HotStoreUnavailableError)
        server.thaw()
        assert await store.get_value("market:vix") == 14.0
    finally:
        await store.close()


@pytest.mark.services
async def test_the_bus_raises_unavailable_when_redis_dies_mid_receive_and_works_after_restart(
    server: ThrowawayRedis,
) -> None:
    stream = f"aegis:test:outage:{uuid.uuid4().hex}"
    bus = RedisStreamsBus.from_url(
        server.url, stream=stream, policy=BusPolicy(claim_idle_ms=50), socket_timeout_s=2.0, connect_timeout_s=0.5
    )
    try:
        await bus.publish({"id": "before"})
        (delivery,) = await bus.receive("w1", block_ms=0)
        await bus.ack(delivery)

        blocked = asyncio.create_task(bus.receive("w1", block_ms=1_500))
        await asyncio.sleep(0.2)  # the XREADGROUP is now blocked on the server
        server.kill()
        await fails_quickly(blocked, BusUnavailableError)
        await fails_quickly(bus.publish({"id": "during"}), BusUnavailableError)
        await fails_quickly(bus.pending_count(), BusUnavailableError)

        server.start()  # empty: the stream and its group are gone and get re-created
        await bus.publish({"id": "after"})
        (delivery,) = await bus.receive("w1", block_ms=0)
        assert delivery.event == {"id": "after"}
        await bus.ack(delivery)
        assert await bus.pending_count() == 0
    finally:
        await bus.close()


async def test_nothing_listening_is_unavailable_at_once() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisHotStore.from_url(url, socket_timeout_s=SOCKET_TIMEOUT_S, connect_timeout_s=SOCKET_TIMEOUT_S)
    bus = RedisStreamsBus.from_url(url, socket_timeout_s=SOCKET_TIMEOUT_S, connect_timeout_s=SOCKET_TIMEOUT_S)
    try:
        await fails_quickly(store.get_value("market:vix"), HotStoreUnavailableError)
        await fails_quickly(bus.receive("w1", block_ms=0), BusUnavailableError)
    finally:
        await store.close()
        await bus.close()
