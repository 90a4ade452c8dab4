"""Which durable store a process uses, and the migrations entry point of `aegis migrate`.

This module owns one choice: a PostgreSQL URL means the production store, no URL means the embedded
SQLite file. Both stores run the same migration files; `migrate` applies them without opening a store
for work and can be run any number of times.

It must never hold SQL, business rules or a second way to build a store: each store module keeps its own
statements and connection set-up, and this module only picks and opens one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite

from state.clock import Clock, WallClock
from state.store.base import DurableStore, StoreUnavailableError
from state.store.migrate import apply_migrations
from state.store.postgres import DEFAULT_POOL_SIZE, PostgresStore
from state.store.sqlite import SqliteStore
from state.store.sqlite import _Connection as _SqliteExecutor

__all__ = ["migrate", "open_store"]


async def open_store(
    postgres_url: str | None,
    sqlite_path: Path,
    clock: Clock,
    *,
    schema: str | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> DurableStore:
    """An open store, migrated: PostgreSQL when `postgres_url` is given (in `schema`, if given, with `pool_size`
    pooled connections), else SQLite.

    Raises `StoreUnavailableError` when the chosen store cannot be reached or opened; it never falls back
    from PostgreSQL to SQLite, which would split the records of one deployment across two stores.
    """
    if postgres_url:
        return await PostgresStore(postgres_url, schema=schema, clock=clock, max_size=pool_size).open()
    return await SqliteStore(sqlite_path, clock=clock).open()


async def migrate(target: str | Path, *, schema: str | None = None, clock: Clock | None = None) -> list[int]:
    """Apply pending migrations to a PostgreSQL URL (a `str`) or a SQLite file (a `Path`).

    Returns the versions applied by this call: empty when the schema is already up to date.
    """
    stamp_clock: Clock = clock or WallClock()
    if isinstance(target, Path):
        return await _migrate_sqlite(target, stamp_clock)
    return await PostgresStore(target, schema=schema, clock=stamp_clock).migrate()


async def _migrate_sqlite(path: Path, clock: Clock) -> list[int]:
    try:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailableError(f"cannot open SQLite store {path}: {exc}") from exc
    try:
        return await apply_migrations(_SqliteExecutor(conn), clock.now())
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"cannot migrate SQLite store {path}: {exc}") from exc
    finally:
        await conn.close()
