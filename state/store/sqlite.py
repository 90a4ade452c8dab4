"""The embedded durable store: one SQLite file, WAL journal, one aiosqlite connection.

This module owns every SQL statement the embedded system runs against its durable store, and the
translation of rows to and from the schemas of `state.orders` and `state.decisions`. It implements
`DurableStore`; the schema itself lives in `migrations/` and is applied on `open()`; the stored form of
each value (the row codecs) is shared with the PostgreSQL store through `rows`.

Decisions that must not be silently changed:
- One connection, one asyncio lock: each public method holds the lock for its whole statement or
  transaction, so coroutines sharing the store never read another's half-written transaction.
- A write of more than one statement runs in one `BEGIN IMMEDIATE` transaction; single statements autocommit.
- `batch()` opens one transaction for a run of writes (a replay's run of ticks): its statements commit
  together at its end, one fsync instead of one per statement; a transaction inside it is a savepoint (it
  still rolls back alone), its after-commit callbacks wait for the batch's commit. The batch commits what it
  holds even when the block raises: the writes a statement made stay made, as they would have autocommitted.
  Inside a batch the statements run on the event loop's thread: with no fsync before the commit, a statement
  takes microseconds and the hop to the connection's thread cost ten times that; the commit (the fsync) runs
  on the connection's thread.
- `synchronous=FULL`: a committed fill survives a power cut, not only a crash of the process.
- Timestamps are stored as fixed-width ISO-8601 UTC text (text order is time order); naive ones are refused.
- JSON is stored strict (no NaN tokens): a non-finite float inside a raw event is kept as its string.
- It never decides *what* to store (no business rules), and no SQL leaves this module.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from state.clock import Clock, WallClock
from state.store.base import (
    StoreClosedError,
    StoreConflictError,
    StoreUnavailableError,
)
from state.store.migrate import apply_migrations
from state.store.sql_store import SqlConnection, SqlStore

__all__ = ["SqliteStore"]


# ---- the connection ------------------------------------------------------------------------------


class _Connection:
    """`SqlExecutor` over one aiosqlite connection in autocommit mode, with explicit transactions."""

    placeholder = "?"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn
        self._after: list[Callable[[], None]] | None = None  # callbacks waiting for the transaction's commit
        self._batch: list[Callable[[], None]] | None = None  # callbacks waiting for the batch's commit

    def after_commit(self, callback: Callable[[], None]) -> None:
        waiting = self._after if self._after is not None else self._batch
        if waiting is None:
            callback()
        else:
            waiting.append(callback)

    @property
    def in_batch(self) -> bool:
        return self._batch is not None

    async def begin_batch(self) -> None:
        await self.execute("BEGIN IMMEDIATE")
        self._batch = []

    async def end_batch(self) -> None:
        """Commit the batch (also after an error in it: what its statements wrote stays written), on the
        connection's thread: the commit is where the fsync is."""
        committed, self._batch = self._batch or [], None
        try:
            if self.raw.in_transaction:
                await self.execute("COMMIT")
        except BaseException:
            if self.raw.in_transaction:
                with suppress(sqlite3.Error):
                    await self.execute("ROLLBACK")
            raise
        for callback in committed:
            callback()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self._batch is not None:
            done = self._inline.execute(sql, tuple(params))
            try:
                return done.rowcount
            finally:
                done.close()
        async with self.raw.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, [tuple(row) for row in rows])

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._batch is not None:
            rows = self._inline.execute(sql, tuple(params))
            try:
                return [tuple(row) for row in rows.fetchall()]
            finally:
                rows.close()
        async with self.raw.execute(sql, tuple(params)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    @property
    def _inline(self) -> sqlite3.Connection:
        """The connection itself, used from the event loop's thread inside a batch: the store's lock is held
        and nothing is in flight on the connection's own thread."""
        return self.raw._conn  # aiosqlite's sqlite3 connection, opened with check_same_thread=False

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        return [await self.fetch_all(sql, params) for sql, params in statements]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._batch is not None:
            async with self._savepoint():
                yield
            return
        await self.execute("BEGIN IMMEDIATE")
        self._after = []
        try:
            yield
            await self.execute("COMMIT")
        except BaseException:
            self._after = None
            if self.raw.in_transaction:  # also when COMMIT itself failed: never leave a transaction open
                with suppress(sqlite3.Error):
                    await self.execute("ROLLBACK")
            raise
        committed, self._after = self._after, None
        for callback in committed:
            callback()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        """A transaction inside a batch: rolled back alone; its callbacks wait for the batch's commit."""
        await self.execute("SAVEPOINT inner")
        self._after = []
        try:
            yield
            await self.execute("RELEASE inner")
        except BaseException:
            self._after = None
            with suppress(sqlite3.Error):
                await self.execute("ROLLBACK TO inner")
                await self.execute("RELEASE inner")
            raise
        committed, self._after = self._after, None
        if self._batch is not None:
            self._batch.extend(committed)


# ---- the store -----------------------------------------------------------------------------------


class SqliteStore(SqlStore):
    """`DurableStore` on a SQLite file. Use `async with SqliteStore(path) as store:` or `open()`/`close()`.

    `clock` only stamps applied migrations; every other time is given by the caller.
    """

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self._path = str(path)
        self._clock: Clock = clock or WallClock()
        self._db: _Connection | None = None
        self._lock = asyncio.Lock()
        self._account_lock = asyncio.Lock()

    @property
    def path(self) -> str:
        return self._path

    async def open(self) -> SqliteStore:
        """Connect, switch to WAL, apply pending migrations. Opening an open store does nothing."""
        async with self._lock:
            if self._db is None:
                self._db = await self._connect()
        return self

    async def _connect(self) -> _Connection:
        in_memory = self._path == ":memory:"
        try:
            if not in_memory:
                await asyncio.to_thread(Path(self._path).parent.mkdir, parents=True, exist_ok=True)
            conn = await aiosqlite.connect(self._path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"cannot open SQLite store {self._path}: {exc}") from exc
        db = _Connection(conn)
        try:
            mode = await db.fetch_one("PRAGMA journal_mode=WAL")
            if not in_memory and (mode is None or str(mode[0]).lower() != "wal"):
                raise StoreUnavailableError(f"{self._path}: cannot switch to WAL (journal_mode={mode})")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=5000")
            await apply_migrations(db, self._clock.now())
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailableError(f"cannot prepare SQLite store {self._path}: {exc}") from exc
            raise
        return db

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await db.raw.close()

    async def __aenter__(self) -> SqliteStore:
        return await self.open()

    @asynccontextmanager
    async def _use(self, *, transaction: bool = False) -> AsyncIterator[_Connection]:
        await self._release_marks()  # held-back marks first: this statement reads or writes after them
        async with self._lock:
            db = self._db
            if db is None:
                raise StoreClosedError(f"SQLite store {self._path} is not open")
            try:
                if transaction:
                    async with db.transaction():
                        yield db
                else:
                    yield db
            except sqlite3.IntegrityError as exc:
                raise StoreConflictError(f"{self._path}: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"{self._path}: {exc}") from exc

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """The writes of the block in one transaction, committed at its end (see the module's notes). Not
        reentrant: a batch inside a batch runs as part of the outer one."""
        async with self._use() as db:
            nested = db.in_batch
            if not nested:
                await db.begin_batch()
        try:
            yield
        finally:
            if not nested:
                async with self._use() as db:
                    await db.end_batch()

    def account_lock(self) -> AbstractAsyncContextManager[None]:
        """One writer of the account's orders at a time (one process holds an embedded store)."""
        return self._account_lock

    # ---- writers of append-only tables take turns --------------------------------------------------

    async def _take_turn(self, db: SqlConnection, table: str) -> None:
        """Nothing to wait for: one connection, behind a lock, does every write."""
