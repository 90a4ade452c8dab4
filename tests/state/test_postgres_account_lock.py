"""The PostgreSQL store's account lock (`state.store.postgres_lock`): one holder at a time across stores (as across
processes), the lock handed from one holder of a process to the next without being released, at most
`max_handoffs` times in a row, and never left held once nobody in the process wants it.

Needs PostgreSQL on 127.0.0.1:5432 (see `test_store_contract.find_postgres`); skips with the reason without
it, or fails when AEGIS_REQUIRE_SERVICES=1. Each test works in a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from state.clock import SimulatedClock
from state.store.postgres import PostgresStore
from state.store.postgres_lock import AccountTurns
from tests.state.test_store_contract import T0, drop_schema, fresh_schema, require_postgres

pytestmark = pytest.mark.services


@pytest.fixture
async def url() -> str:
    return await require_postgres()


@pytest.fixture
async def schema(url: str) -> AsyncIterator[str]:
    name = fresh_schema()
    yield name
    await drop_schema(url, name)


def turns(store: PostgresStore) -> AccountTurns:
    return store._account  # the lock's own counters


async def open_pair(url: str, schema: str) -> tuple[PostgresStore, PostgresStore]:
    """Two stores on one schema: two pools, as two worker processes have."""
    clock = SimulatedClock(T0)
    return (
        await PostgresStore(url, schema=schema, clock=clock, max_size=4).open(),
        await PostgresStore(url, schema=schema, clock=clock, max_size=4).open(),
    )


async def test_a_second_store_waits_for_the_holder_of_the_first(url: str, schema: str) -> None:
    first, second = await open_pair(url, schema)
    try:
        order: list[str] = []
        holding = asyncio.Event()

        async def hold_first() -> None:
            async with first.account_lock():
                holding.set()
                await asyncio.sleep(0.2)
                order.append("first out")

        async def take_second() -> None:
            await holding.wait()
            async with second.account_lock():
                order.append("second in")

        await asyncio.gather(hold_first(), take_second())
        assert order == ["first out", "second in"]
    finally:
        await first.close()
        await second.close()


async def test_the_lock_passes_between_holders_of_one_store_and_is_released_after_the_last(
    url: str, schema: str
) -> None:
    first, second = await open_pair(url, schema)
    try:
        inside, most = 0, 0

        async def session() -> None:
            nonlocal inside, most
            async with first.account_lock():
                inside += 1
                most = max(most, inside)
                await first.account_book()  # the holder's reads go through the lock's connection
                await asyncio.sleep(0.001)
                inside -= 1

        await asyncio.gather(*(session() for _ in range(12)))
        assert most == 1
        assert turns(first).acquired < 12  # handed on while others of the process were queued
        assert not turns(first).kept
        async with asyncio.timeout(2):  # released: the other store takes it at once
            async with second.account_lock():
                pass
    finally:
        await first.close()
        await second.close()


async def test_handing_on_stops_after_max_handoffs_so_other_processes_get_their_turn(url: str, schema: str) -> None:
    first, second = await open_pair(url, schema)
    turns(first)._max_handoffs = 2
    try:
        log: list[str] = []
        first_in = asyncio.Event()

        async def local(n: int) -> None:
            async with first.account_lock():
                first_in.set()
                log.append(f"local {n}")
                await asyncio.sleep(0.02)

        async def other() -> None:
            await first_in.wait()
            await asyncio.sleep(0.005)  # queued on the server while the first store's sessions are queued locally
            async with second.account_lock():
                log.append("other")

        await asyncio.gather(*(local(n) for n in range(8)), other())
        assert log.index("other") <= 3  # after at most 1 + 2 handed-on holders, not after all 8
    finally:
        await first.close()
        await second.close()


async def test_a_lock_kept_for_a_cancelled_waiter_is_released(url: str, schema: str) -> None:
    first, second = await open_pair(url, schema)
    try:
        holding = asyncio.Event()

        async def waiter() -> None:
            await holding.wait()
            async with first.account_lock():
                raise AssertionError("cancelled before its turn")

        waiting = asyncio.create_task(waiter())
        async with first.account_lock():
            holding.set()
            await asyncio.sleep(0.05)  # the waiter is queued
        assert turns(first).kept
        waiting.cancel()  # kept for it at the block's end; cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with asyncio.timeout(2):
            async with second.account_lock():
                pass
        assert not turns(first).kept
    finally:
        await first.close()
        await second.close()


async def test_an_error_in_the_block_releases_the_lock(url: str, schema: str) -> None:
    first, second = await open_pair(url, schema)
    try:
        with pytest.raises(RuntimeError):
            async with first.account_lock():
                raise RuntimeError("refused")
        async with asyncio.timeout(2):
            async with second.account_lock():
                pass
        async with first.account_lock():  # and the first store takes it again
            pass
    finally:
        await first.close()
        await second.close()
