"""What only the PostgreSQL store promises: its pool, many concurrent writers, an unreachable or restarting
server, migrations run by several processes at once, and isolated schemas.

Needs PostgreSQL on 127.0.0.1:5432 (see `test_store_contract.find_postgres`); skips with the reason without
it, or fails when AEGIS_REQUIRE_SERVICES=1. Each test works in fresh schemas, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from state.clock import SimulatedClock
from state.store.base import InvalidRecordError, StoreUnavailableError
from state.store.factory import migrate, open_store
from state.store.postgres import PostgresStore
from tests.state.test_store_contract import (
    T0,
    decision,
    drop_schema,
    fill,
    fresh_schema,
    order,
    pg_query,
    position,
    require_postgres,
)

pytestmark = pytest.mark.services

CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/test"


@pytest.fixture
async def url() -> str:
    return await require_postgres()


@pytest.fixture
async def schemas(url: str) -> AsyncIterator[Callable[[], str]]:
    """Hands out fresh schema names; drops every one of them afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(fresh_schema())
        return made[-1]

    yield make
    for schema in made:
        await drop_schema(url, schema)


@pytest.fixture
async def schema(schemas: Callable[[], str]) -> str:
    return schemas()


class TcpProxy:
    """A loopback TCP relay to the server that can be cut and restored: a server restart, seen from a client."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0.05)  # let the relays see their sockets close

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def eventually(check: Callable[[], Awaitable[object]], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await check()
            return
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# ---- concurrent writers -------------------------------------------------------------------------


async def test_fifty_concurrent_decisions_from_two_pools_get_consecutive_seqs(url: str, schema: str) -> None:
    async with PostgresStore(url, schema=schema, max_size=5) as one, PostgresStore(url, schema=schema) as two:
        saved = await asyncio.gather(
            *((one if i % 2 else two).save_decision(decision(f"e{i}", minutes=i % 3)) for i in range(50))
        )
        assert saved == [True] * 50
        seqs = await pg_query(url, schema, "SELECT seq FROM decisions ORDER BY seq")
        assert [s for (s,) in seqs] == list(range(1, 51))
        assert len(await one.recent_decisions(100)) == 50


async def test_twenty_concurrent_orders_for_one_event_from_two_pools_make_exactly_one(url: str, schema: str) -> None:
    async with PostgresStore(url, schema=schema, max_size=10) as one, PostgresStore(url, schema=schema) as two:
        results = await asyncio.gather(
            *((one if q % 2 else two).save_order(order("e1", quantity=float(q))) for q in range(1, 21))
        )
    assert len({r.request.quantity for r in results}) == 1
    assert await pg_query(url, schema, "SELECT COUNT(*) FROM orders") == [(1,)]


async def test_concurrent_appends_to_every_seq_table_never_collide(url: str, schema: str) -> None:
    async with PostgresStore(url, schema=schema, max_size=6) as one, PostgresStore(url, schema=schema) as two:
        writes = []
        for i in range(20):
            store = one if i % 2 else two
            writes += [
                store.audit("operator", "note", {"i": i}, T0),
                store.record_posture("guerrilla", f"tick {i}", 18.0, T0),
                store.record_event(f"e{i}", "NEWS", T0, {"i": i}),
                store.record_rejection(None, {"i": i}, [], T0),
                store.save_fill(fill(f"f{i}", minutes=i)),
            ]
        await asyncio.gather(*writes)
    for table in ("audit_log", "posture_history", "events", "rejected_events", "fills"):
        seqs = await pg_query(url, schema, f"SELECT seq FROM {table} ORDER BY seq")
        assert [s for (s,) in seqs] == list(range(1, 21)), table


async def test_concurrent_books_replace_each_other_and_never_merge(url: str, schema: str) -> None:
    books = [[position("AAPL"), position("MSFT")], [position("TSLA", quantity=2.0)], []]
    async with PostgresStore(url, schema=schema, max_size=6) as one, PostgresStore(url, schema=schema) as two:
        await asyncio.gather(*((one if i % 2 else two).replace_positions(books[i % 3]) for i in range(30)))
        assert await one.positions() in books


# ---- the pool -----------------------------------------------------------------------------------


async def test_the_pool_never_opens_more_than_max_size_connections(url: str, schema: str) -> None:
    name = f"aegis-pool-{uuid.uuid4().hex[:8]}"
    count = f"SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '{name}'"
    async with PostgresStore(url, schema=schema, min_size=1, max_size=3, application_name=name) as store:
        peak = 0

        async def write(i: int) -> None:
            nonlocal peak
            await store.set_counter(f"c{i % 5}", i)
            [(now,)] = await pg_query(url, schema, count)
            peak = max(peak, now)

        await asyncio.gather(*(write(i) for i in range(40)))
        assert 1 <= peak <= 3
    for _ in range(50):  # closing the store closes its connections; the server notices a moment later
        if await pg_query(url, schema, count) == [(0,)]:
            break
        await asyncio.sleep(0.1)
    assert await pg_query(url, schema, count) == [(0,)]


async def test_connections_killed_by_the_server_are_replaced_transparently(url: str, schema: str) -> None:
    name = f"aegis-kill-{uuid.uuid4().hex[:8]}"
    async with PostgresStore(url, schema=schema, min_size=2, max_size=2, application_name=name) as store:
        await store.set_counter("x", 1)
        killed = await pg_query(
            url, schema, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"
        )
        assert killed and all(ok for (ok,) in killed)
        # pg_terminate_backend only signals; the connections are closed once the backends have exited.
        await _until_gone(url, schema, name)
        assert await store.get_counter("x") == 1
        assert await store.get_counter("x") == 1  # and again, on whichever connection the pool hands out


async def test_a_connection_killed_mid_checkout_fails_its_statement_and_is_not_reused(url: str, schema: str) -> None:
    name = f"aegis-kill-{uuid.uuid4().hex[:8]}"
    async with PostgresStore(url, schema=schema, min_size=1, max_size=1, application_name=name) as store:
        await store.set_counter("x", 1)
        # Killed while checked out: the probe cannot have seen it, the statement fails and says so ...
        kill = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"

        async def query_on_a_connection_killed_meanwhile() -> None:
            async with store._use() as db:
                await pg_query(url, schema, kill)
                await _until_gone(url, schema, name)
                await db.fetch_one("SELECT 1")

        with pytest.raises(StoreUnavailableError):
            await query_on_a_connection_killed_meanwhile()
        # ... and the pool does not hand the broken connection out again.
        assert await store.get_counter("x") == 1


async def _until_gone(url: str, schema: str, application_name: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    query = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application_name}'"
    while (await pg_query(url, schema, query))[0][0] > 0:
        assert time.monotonic() < deadline, "the terminated backends did not exit"
        await asyncio.sleep(0.02)


# ---- an unreachable or restarting server --------------------------------------------------------


async def test_an_unreachable_server_is_reported_as_unavailable_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1/test"):
        await PostgresStore(CLOSED_PORT_URL).open()
    with pytest.raises(StoreUnavailableError):
        await migrate(CLOSED_PORT_URL)
    assert time.monotonic() - started < 5


async def test_open_store_never_falls_back_to_sqlite(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError):
        await open_store(CLOSED_PORT_URL, tmp_path / "aegis.db", SimulatedClock(T0))
    assert not (tmp_path / "aegis.db").exists()


async def test_a_server_that_goes_away_is_unavailable_then_used_again_when_back(url: str, schema: str) -> None:
    target = psycopg.conninfo.conninfo_to_dict(url)
    proxy = TcpProxy(int(target.get("port") or 5432))
    await proxy.start()
    relayed = psycopg.conninfo.make_conninfo(url, host="127.0.0.1", port=str(proxy.port))
    store = await PostgresStore(relayed, schema=schema, min_size=1, max_size=2, acquire_timeout=1.0).open()
    try:
        await store.set_counter("x", 1)
        await proxy.stop()
        with pytest.raises(StoreUnavailableError):
            await store.get_counter("x")
        await proxy.start()
        await eventually(lambda: store.get_counter("x"), within=15)
        assert await store.get_counter("x") == 1
    finally:
        await store.close()
        await proxy.stop()


# ---- migrations, schemas, values ----------------------------------------------------------------


async def test_processes_migrating_at_once_apply_each_version_exactly_once(url: str, schema: str) -> None:
    applied = await asyncio.gather(*(PostgresStore(url, schema=schema).migrate() for _ in range(6)))
    assert sorted(applied) == [[], [], [], [], [], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]
    versions = await pg_query(url, schema, "SELECT version FROM schema_migrations ORDER BY version")
    assert versions == [(1,), (2,), (3,), (4,), (5,), (6,), (7,), (8,), (9,), (10,), (11,), (12,)]
    assert await migrate(url, schema=schema) == []


async def test_each_schema_is_a_store_of_its_own(url: str, schemas: Callable[[], str]) -> None:
    async with PostgresStore(url, schema=schemas()) as one, PostgresStore(url, schema=schemas()) as two:
        await one.save_cash(1.0, T0)
        await two.save_decision(decision("e1"))
        assert (await one.cash(), await two.cash()) == (1.0, None)
        assert (await one.get_decision("e1"), await two.get_decision("e1")) == (None, decision("e1"))


async def test_a_value_postgres_text_cannot_hold_is_refused_as_invalid(url: str, schema: str) -> None:
    async with PostgresStore(url, schema=schema) as store:
        with pytest.raises(InvalidRecordError, match="NUL"):
            await store.save_mark("AA\x00PL", 1.0, T0)
        assert await store.marks() == {}


async def test_times_round_trip_in_utc_whatever_the_session_time_zone(url: str, schema: str) -> None:
    paris = datetime(2017, 3, 1, 22, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    tokyo_session = psycopg.conninfo.make_conninfo(url, options="-c TimeZone=Asia/Tokyo")
    async with PostgresStore(tokyo_session, schema=schema) as store:
        await store.save_mark("AAPL", 1.0, paris)
        assert await store.marks() == {"AAPL": (1.0, T0 + timedelta(hours=1))}
