"""Checkpointer factory: where LangGraph keeps a graph's checkpoints (SQLite embedded; Postgres later).

The serializer is given the exact list of project types that may appear in state, so loading a
checkpoint never reconstructs arbitrary classes (LangGraph's strict msgpack mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


async def open_sqlite_checkpointer(path: Path, allowed_types: Iterable[type]) -> AsyncSqliteSaver:
    """An `AsyncSqliteSaver` on `path` (created if missing), tables set up. Close with `close_checkpointer`."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    connection = await aiosqlite.connect(str(path))
    await connection.execute("PRAGMA journal_mode=WAL")
    serde = JsonPlusSerializer(allowed_msgpack_modules=list(allowed_types))
    saver = AsyncSqliteSaver(connection, serde=serde)
    await saver.setup()
    return saver


async def close_checkpointer(saver: AsyncSqliteSaver) -> None:
    await saver.conn.close()
