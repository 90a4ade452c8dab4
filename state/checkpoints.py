"""Checkpointer factory: where LangGraph keeps a graph's checkpoints (SQLite embedded, PostgreSQL in production).

The serializer is given the exact list of project types that may appear in state, so loading a
checkpoint never reconstructs arbitrary classes (LangGraph's strict msgpack mode). It is LangGraph's,
with a faster encoder for those types that writes the same bytes (`state.checkpoint_serde`).

The PostgreSQL saver runs on one connection pool shared by every graph run of the process, configured as
`AsyncPostgresSaver` requires (autocommit, no prepared statements, dict rows). Its tables are set up on
open by one dedicated connection holding an advisory lock, so workers starting together do not race on
the saver's own migrations. This module never writes or reads a checkpoint itself.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiosqlite
import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from state.checkpoint_serde import CheckpointSerializer
from state.store.base import StoreUnavailableError
from state.store.pool_check import probe_idle

__all__ = [
    "START_AFRESH",
    "SessionSaver",
    "SqliteSessionSaver",
    "close_checkpointer",
    "close_postgres_checkpointer",
    "open_postgres_checkpointer",
    "open_sqlite_checkpointer",
]

_PgConn = psycopg.AsyncConnection[DictRow]


async def open_sqlite_checkpointer(path: Path, allowed_types: Iterable[type]) -> AsyncSqliteSaver:
    """An `AsyncSqliteSaver` on `path` (created if missing), tables set up. Close with `close_checkpointer`."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    connection = await aiosqlite.connect(str(path))
    await connection.execute("PRAGMA journal_mode=WAL")
    serde = CheckpointSerializer(allowed_types)
    saver = SqliteSessionSaver(connection, serde=serde)
    await saver.setup()
    return saver


async def close_checkpointer(saver: AsyncSqliteSaver) -> None:
    await saver.conn.close()


async def open_postgres_checkpointer(
    url: str,
    allowed_types: Iterable[type],
    *,
    schema: str | None = None,
    min_size: int = 1,
    max_size: int = 8,
    acquire_timeout: float = 5.0,
) -> AsyncPostgresSaver:
    """An `AsyncPostgresSaver` on a pool of `min_size`..`max_size` connections, tables set up.

    `schema` (created if missing) becomes the connections' search_path; `acquire_timeout` (seconds)
    bounds opening and each wait for a pooled connection. Raises `StoreUnavailableError` when the server
    cannot be reached. Close with `close_postgres_checkpointer`.
    """
    serde = CheckpointSerializer(allowed_types)
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}

    async def configure(conn: _PgConn) -> None:
        if schema is not None:
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

    try:
        connect_timeout = max(2, round(acquire_timeout))
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=connect_timeout, **kwargs) as conn:
            await configure(conn)
            await _set_up_tables(conn, schema, serde)
    except psycopg.Error as exc:
        raise StoreUnavailableError(f"cannot prepare the PostgreSQL checkpointer: {exc}") from exc
    pool: AsyncConnectionPool[_PgConn] = AsyncConnectionPool(
        url,
        connection_class=psycopg.AsyncConnection[DictRow],
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        open=False,
        configure=configure,
        check=probe_idle,
        timeout=acquire_timeout,
        name="aegis-checkpoints",
    )
    try:
        await pool.open(wait=True, timeout=acquire_timeout)
    except psycopg.Error as exc:
        await pool.close()
        raise StoreUnavailableError(f"cannot fill the PostgreSQL checkpointer pool: {exc}") from exc
    return SessionSaver(pool, serde=serde)


# A run's `configurable` key: True when the run starts its thread afresh whatever the thread holds.
START_AFRESH = "aegis_start_afresh"


class SessionSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` that skips the read of a thread's latest checkpoint when a run says it will start
    afresh (`START_AFRESH` in its configurable). A session with durability "exit" does: a run that died
    left no checkpoint, and a completed run's event has its decision recorded, which the graph's first
    step returns, so what the thread holds is never resumed. That saves one query at every session's start."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        if config.get("configurable", {}).get(START_AFRESH):
            return None
        return await super().aget_tuple(config)


class SqliteSessionSaver(AsyncSqliteSaver):
    """`AsyncSqliteSaver` that starts a run afresh when it says so (`START_AFRESH`), as `SessionSaver` does: a
    run on a thread whose last run completed must not inherit that run's state (its settlement, a redelivery
    or a conflict it found), or the new session could end on what the earlier one settled."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        if config.get("configurable", {}).get(START_AFRESH):
            return None
        return await super().aget_tuple(config)


async def _set_up_tables(conn: _PgConn, schema: str | None, serde: CheckpointSerializer) -> None:
    digest = hashlib.blake2b(f"aegis-checkpoints:{schema or ''}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        if schema is not None:
            found = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if await found.fetchone() is None:
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        await AsyncPostgresSaver(conn, serde=serde).setup()
    finally:
        with suppress(psycopg.Error):  # closing the connection releases it anyway
            await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


async def close_postgres_checkpointer(saver: AsyncPostgresSaver) -> None:
    """Close the saver's pool (or connection); runs still using it fail from then on."""
    await saver.conn.close()
