"""The durable schema runs unchanged on PostgreSQL, and its keys carry the idempotency rules there too.

Needs PostgreSQL on 127.0.0.1:5432 (database `test`, user `postgres` or `root`, trust auth). Each run works
in a fresh schema that is dropped afterwards. Skips without the server unless AEGIS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from state.store.migrate import apply_migrations
from tests.services import require_service

pytestmark = pytest.mark.services

HOST, PORT, DATABASE, USERS = "127.0.0.1", 5432, "test", ("postgres", "root")
T0 = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)
TABLES = {
    "schema_migrations",
    "events",
    "rejected_events",
    "decisions",
    "orders",
    "fills",
    "positions",
    "account",
    "marks",
    "posture_history",
    "audit_log",
    "counters",
    "market_bars",
    "hot_values",
    "trading_states",
    "alerts",
    "alert_deliveries",
    "event_conflicts",
    "bots",
    "approvals",
    "bot_days",
    "rules",
    "rule_versions",
    "risk_limit_changes",
    "api_keys",
    "record_chain",
}


class PsycopgExecutor:
    """The migration runner's `SqlExecutor` on a psycopg connection in autocommit mode."""

    placeholder = "%s"

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.conn.execute(query, tuple(params) if params else None)
        return cursor.rowcount

    async def fetch_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = await self.conn.execute(query, tuple(params) if params else None)
        return [tuple(row) for row in await cursor.fetchall()]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.conn.transaction():
            yield


async def _connect() -> tuple[psycopg.AsyncConnection[Any] | None, str]:
    reasons = []
    for user in USERS:
        try:
            conn = await psycopg.AsyncConnection.connect(
                host=HOST, port=PORT, dbname=DATABASE, user=user, autocommit=True, connect_timeout=3
            )
        except psycopg.Error as exc:
            reasons.append(f"{user}@{HOST}:{PORT}/{DATABASE}: {str(exc).strip()}")
        else:
            return conn, ""
    return None, "; ".join(reasons)


@pytest.fixture
async def pg() -> AsyncIterator[PsycopgExecutor]:
    conn, why = await _connect()
    require_service("PostgreSQL", conn is not None, why)
    assert conn is not None
    schema = sql.Identifier(f"aegis_test_{uuid.uuid4().hex[:12]}")
    try:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        await conn.execute(sql.SQL("SET search_path TO {}").format(schema))
        yield PsycopgExecutor(conn)
    finally:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        await conn.close()


async def _tables(pg: PsycopgExecutor) -> set[str]:
    found = await pg.fetch_all("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {name for (name,) in found}


async def test_the_migrations_create_every_table_and_run_once(pg: PsycopgExecutor) -> None:
    assert await apply_migrations(pg, T0) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert await apply_migrations(pg, T0) == []
    assert await _tables(pg) == TABLES
    assert await pg.fetch_all("SELECT version, name FROM schema_migrations ORDER BY version") == [
        (1, "init"),
        (2, "market_snapshot"),
        (3, "capital_protection"),
        (4, "event_conflicts"),
        (5, "bots"),
        (6, "rules"),
        (7, "correlation"),
        (8, "approvals"),
        (9, "orders_recent"),
        (10, "risk_limits"),
        (11, "api_keys"),
        (12, "record_chain"),
    ]


async def test_a_second_order_for_the_same_event_violates_the_unique_key(pg: PsycopgExecutor) -> None:
    await apply_migrations(pg, T0)
    insert = (
        "INSERT INTO orders (order_id, event_id, symbol, side, order_type, quantity, status, created_at, "
        "updated_at, record) VALUES (%s, %s, 'AAPL', 'buy', 'market', 10, 'pending', %s, %s, '{}')"
    )
    stamp = T0.isoformat()
    await pg.execute(insert, ("ord-e1", "e1", stamp, stamp))
    with pytest.raises(psycopg.errors.UniqueViolation):
        await pg.execute(insert, ("ord-other", "e1", stamp, stamp))
    assert await pg.execute(insert + " ON CONFLICT DO NOTHING", ("ord-other", "e1", stamp, stamp)) == 0


async def test_the_store_idioms_behave_the_same_on_postgres(pg: PsycopgExecutor) -> None:
    """Insert-or-ignore with a store-assigned seq, and upserts through `excluded`, as the stores do."""
    await apply_migrations(pg, T0)
    stamp = T0.isoformat()
    decision = (
        "INSERT INTO decisions (event_id, seq, event_type, outcome, symbol, decided_at, record) "
        "VALUES (%s, (SELECT COALESCE(MAX(seq), 0) + 1 FROM decisions), 'NEWS', 'hold', NULL, %s, '{}') "
        "ON CONFLICT (event_id) DO NOTHING"
    )
    assert await pg.execute(decision, ("e1", stamp)) == 1
    assert await pg.execute(decision, ("e1", stamp)) == 0
    assert await pg.execute(decision, ("e2", stamp)) == 1
    assert await pg.fetch_all("SELECT event_id, seq FROM decisions ORDER BY seq") == [("e1", 1), ("e2", 2)]

    fill = (
        "INSERT INTO fills (fill_id, seq, order_id, event_id, symbol, side, quantity, price, fee, reason, "
        "filled_at) VALUES (%s, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fills), 'ord-e1', 'e1', 'AAPL', "
        "'buy', 10, 100.05, 0.1, 'entry', %s)"
    )
    await pg.execute(fill, ("fill-e1-entry", stamp))
    with pytest.raises(psycopg.errors.UniqueViolation):
        await pg.execute(fill, ("fill-e1-entry", stamp))

    rejection = (
        "INSERT INTO rejected_events (seq, event_id, raw, errors, rejected_at) "
        "VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM rejected_events), %s, '{}', '[]', %s) "
        "ON CONFLICT (event_id) DO NOTHING"
    )
    for event_id in ("bad", "bad", None, None):
        await pg.execute(rejection, (event_id, stamp))
    kept = await pg.fetch_all("SELECT event_id FROM rejected_events ORDER BY seq")
    assert kept == [("bad",), (None,), (None,)]

    counter = (
        "INSERT INTO counters (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
    )
    await pg.execute(counter, ("failures", 2))
    await pg.execute(counter, ("failures", 3))
    assert await pg.fetch_all("SELECT name, value FROM counters") == [("failures", 3)]
