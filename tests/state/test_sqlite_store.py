"""What only the embedded store and the migration runner promise: WAL, the file, in-memory runs, the runner.

The behaviour every `DurableStore` shares (idempotency, ordering, refusals) is specified once, for both
engines, in `test_store_contract.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from state.store.base import MigrationError, StoreUnavailableError
from state.store.migrate import (
    MIGRATIONS_DIR,
    SCHEMA_MIGRATIONS_DDL,
    Migration,
    apply_migrations,
    load_migrations,
    split_statements,
)
from state.store.sqlite import SqliteStore

T0 = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "aegis.db") as opened:
        yield opened


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the file with a second, plain connection (WAL lets it read while the store is open)."""
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


# ---- opening, migrations ------------------------------------------------------------------------


async def test_open_switches_to_wal_and_records_the_applied_migration(store: SqliteStore) -> None:
    path = Path(store.path)
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    applied = [(v, n) for v, n, _ in rows(path, "SELECT * FROM schema_migrations ORDER BY version")]
    assert applied == [
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


async def test_open_creates_the_parent_folder(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "new" / "folder" / "aegis.db") as store:
        await store.set_counter("x", 1)
    assert (tmp_path / "new" / "folder" / "aegis.db").exists()


async def test_an_in_memory_store_works_for_throwaway_runs() -> None:
    async with SqliteStore(":memory:") as store:
        await store.save_cash(1.0, T0)
        assert await store.cash() == 1.0


async def test_an_unusable_path_is_reported_as_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError):
        await SqliteStore(tmp_path).open()  # a folder, not a file


class _AiosqliteExecutor:
    """A minimal `SqlExecutor`, to drive the runner directly."""

    placeholder = "?"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.execute("BEGIN")
        try:
            yield
        except BaseException:
            await self.execute("ROLLBACK")
            raise
        await self.execute("COMMIT")


async def test_the_runner_applies_each_version_once(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as conn:
        db = _AiosqliteExecutor(conn)
        assert await apply_migrations(db, T0) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        assert await apply_migrations(db, T0) == []
        assert await db.fetch_all("SELECT version, name, applied_at FROM schema_migrations ORDER BY version") == [
            (1, "init", T0.isoformat()),
            (2, "market_snapshot", T0.isoformat()),
            (3, "capital_protection", T0.isoformat()),
            (4, "event_conflicts", T0.isoformat()),
            (5, "bots", T0.isoformat()),
            (6, "rules", T0.isoformat()),
            (7, "correlation", T0.isoformat()),
            (8, "approvals", T0.isoformat()),
            (9, "orders_recent", T0.isoformat()),
            (10, "risk_limits", T0.isoformat()),
            (11, "api_keys", T0.isoformat()),
            (12, "record_chain", T0.isoformat()),
        ]


async def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    broken = Migration(99, "broken", ("CREATE TABLE half_done (x TEXT)", "CREATE TABLE nonsense ("))
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as conn:
        db = _AiosqliteExecutor(conn)
        await apply_migrations(db, T0)
        with pytest.raises(MigrationError, match="0099_broken"):
            await apply_migrations(db, T0, [*load_migrations(), broken])
        tables = await db.fetch_all("SELECT name FROM sqlite_master WHERE name = 'half_done'")
        versions = await db.fetch_all("SELECT version FROM schema_migrations ORDER BY version")
    assert tables == []
    assert versions == [(1,), (2,), (3,), (4,), (5,), (6,), (7,), (8,), (9,), (10,), (11,), (12,)]


def test_split_statements_drops_comments_and_blank_statements() -> None:
    sql = "-- header; a semicolon\nCREATE TABLE a (x TEXT); -- trailing\n\n;CREATE INDEX i ON a (x);\n"
    assert split_statements(sql) == ("CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)")


def test_the_runner_bootstrap_table_is_the_one_0001_creates() -> None:
    first = load_migrations()[0]
    assert (first.version, first.name) == (1, "init")
    squeezed = ["".join(statement.split()) for statement in first.statements]
    assert "".join(SCHEMA_MIGRATIONS_DDL.split()) in squeezed


def test_migration_sql_uses_only_portable_constructs() -> None:
    text = (MIGRATIONS_DIR / "0001_init.sql").read_text().upper()
    for sqlite_only in ("AUTOINCREMENT", "INTEGER PRIMARY KEY", "WITHOUT ROWID", "PRAGMA", "REAL", "BLOB"):
        assert sqlite_only not in text
    for statement in load_migrations()[0].statements:
        assert statement.startswith(("CREATE TABLE IF NOT EXISTS", "CREATE INDEX IF NOT EXISTS"))


def test_misnamed_migration_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "init.sql").write_text("CREATE TABLE IF NOT EXISTS a (x TEXT);")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)
