"""The production durable store: PostgreSQL through psycopg 3 and one async connection pool per store.

This module owns every SQL statement the production system runs against PostgreSQL for its durable store.
It implements `DurableStore` with the semantics of `SqliteStore` (same keys, same return shapes, same
errors), on the same schema, applied by the same files of `migrations/`; the stored form of every value
comes from `rows`, shared with the SQLite store.

Decisions that must not be silently changed:
- Several tasks, workers and processes write at once; the database settles every race, never a process:
  idempotency by the unique keys (`ON CONFLICT`), and the append-only `seq` (MAX + 1, as on SQLite) is
  assigned while the writer holds a transaction-scoped advisory lock for that table, so writers take
  turns instead of racing for one number (no retry loop, no gap). Rewriting the whole book takes the
  same kind of lock, so two concurrent books never merge. Transactions that take several such locks
  take them in one order (`book_fill`: `fills`, `positions`; `finish_session`: `decisions`,
  `posture_history`, `audit_log`) and no transaction takes them in another: no cycle, no deadlock.
- The account lock is a session advisory lock on a pooled connection (`postgres_lock`): a process's sessions
  queue for it in the process, and it passes from one of them to the next without being released (at most
  `postgres_lock.MAX_HANDOFFS` in a row), which saves the unlock and the lock of every acquisition under load.
- Migrations run on `open()` (or `migrate()`) on one dedicated connection holding a session advisory
  lock, so processes starting together apply each migration exactly once.
- Connections are autocommit; a write of more than one statement runs in one transaction. The writes and
  reads on every event's path (`record_event`, `finish_session`, `book_snapshot`) are each sent as one
  multi-statement script, bound on the client, in one round trip and one implicit transaction
  (`pg_writes`): the same statements and results as the shared path, a third of the worker's CPU.
- Every pooled connection is checked when it is handed out, without a round trip (`pool_check.probe_idle`): an idle
  connection has nothing to read, so a readable socket means the server closed it (a restart, a
  terminated backend) and only then is it pinged, and replaced if dead. A ping on every checkout cost
  half the statements of a session. While the server is unreachable a call raises
  `StoreUnavailableError` within `acquire_timeout` seconds instead of hanging.
- `schema` becomes each connection's `search_path` (the schema is created if missing): one database can
  hold isolated stores (tests, several paper accounts).
- Ids and symbols are ordered `COLLATE "C"`, the byte order SQLite uses, whatever the database's collation.
- It never decides *what* to store (no business rules), and no SQL leaves this module.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed

from state.clock import Clock, WallClock
from state.decisions import DecisionRecord
from state.orders import Order
from state.store import pg_writes
from state.store.audit_lines import log_audit
from state.store.base import (
    Finished,
    InvalidRecordError,
    SessionEnd,
    StoreClosedError,
    StoreConflictError,
    StoreUnavailableError,
)
from state.store.migrate import apply_migrations
from state.store.pool_check import probe_idle
from state.store.postgres_lock import AccountTurns
from state.store.rows import decision_row, event_chain, json_text, order_row, ts
from state.store.sql_store import SqlConnection, SqlStore

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore"]

_Conn = psycopg.AsyncConnection[TupleRow]
_MIGRATIONS_LOCK = "schema_migrations"
_ACCOUNT_LOCK = "account_orders"
DEFAULT_POOL_SIZE = 8  # connections per store (per process): `Settings.postgres_pool_size`


@functools.cache
def _placeholders(query: str) -> str:
    """The shared SQL's `?` placeholders in psycopg's style (the statements hold no other `?` or `%`)."""
    return query.replace("?", "%s") if "?" in query else query


def _lock_key(schema: str | None, name: str) -> int:
    """A stable 64-bit advisory-lock key for `name` in `schema` (the same in every process)."""
    digest = hashlib.blake2b(f"aegis:{schema or ''}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _describe(url: str) -> str:
    """host:port/dbname, never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "PostgreSQL (unparsable connection string)"
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"


# ---- one connection ------------------------------------------------------------------------------


class _Connection:
    """`SqlExecutor` over one psycopg connection in autocommit mode, with explicit transactions."""

    placeholder = "%s"

    def __init__(self, conn: _Conn, schema: str | None) -> None:
        self.raw = conn
        self._schema = schema
        self._after: list[Callable[[], None]] | None = None  # callbacks waiting for the transaction's commit

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self._after is None:
            callback()
        else:
            self._after.append(callback)

    async def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.raw.execute(_placeholders(query), tuple(params) if params else None)
        return cursor.rowcount

    async def execute_many(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.raw.cursor() as cursor:
            await cursor.executemany(_placeholders(query), [tuple(row) for row in rows])

    async def fetch_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = await self.raw.execute(_placeholders(query), tuple(params) if params else None)
        return [tuple(row) for row in await cursor.fetchall()]

    async def fetch_one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._after = []
        try:
            async with self.raw.transaction():
                yield
        except BaseException:
            self._after = None
            raise
        committed, self._after = self._after, None
        for callback in committed:
            callback()

    async def run_script(self, statements: Sequence[pg_writes.Statement]) -> list[tuple[Any, ...]]:
        """`statements` in one round trip and one implicit transaction (`pg_writes`); the last one's rows."""
        return (await self.fetch_many(statements))[-1]

    async def fetch_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows, all sent in one round trip (one implicit transaction, `pg_writes`)."""
        binder = psycopg.AsyncClientCursor(self.raw)
        bound = [(_placeholders(query), tuple(params)) for query, params in statements]
        cursor = await self.raw.execute(pg_writes.script(bound, lambda q, p: binder.mogrify(q, p)))
        results = []
        while True:  # the results come in statement order
            results.append([tuple(row) for row in await cursor.fetchall()] if cursor.description else [])
            if not cursor.nextset():
                return results

    async def take_turn(self, table: str) -> None:
        """Wait for the other writers of `table`; held until this transaction ends."""
        await self.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self._schema, table),))


@dataclass(eq=False)
class _HeldLock:
    """The task holding the account lock and the connection holding its advisory lock."""

    task: asyncio.Task[Any] | None
    conn: _Conn
    busy: bool = False  # a statement block of the holder uses it now (a nested one takes a pooled connection)


# ---- the store -----------------------------------------------------------------------------------


class PostgresStore(SqlStore):
    """`DurableStore` on PostgreSQL. Use `async with PostgresStore(url) as store:` or `open()`/`close()`.

    `schema`: the schema (search_path) holding the tables, created if missing; None keeps the server's
    default. `min_size`/`max_size`: the pool's connections per store (per process). `connect_timeout`
    (whole seconds) bounds one connection attempt, `acquire_timeout` (seconds) the wait for a pooled
    connection. `clock` only stamps applied migrations; every other time is given by the caller.
    """

    _byte_order = ' COLLATE "C"'  # byte order whatever the database collation, as on SQLite

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        min_size: int = 1,
        max_size: int = DEFAULT_POOL_SIZE,
        connect_timeout: int = 5,
        acquire_timeout: float = 5.0,
        application_name: str = "aegis",
    ) -> None:
        if schema is not None and not schema.strip():
            raise ValueError("schema must be a non-empty name or None")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"pool sizes need 0 <= min_size <= max_size and max_size >= 1, got {min_size}/{max_size}")
        self._url = url
        self._schema = schema
        self._clock: Clock = clock or WallClock()
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._application_name = application_name
        self._where = _describe(url) + (f" schema {schema}" if schema else "")
        self._pool: AsyncConnectionPool[_Conn] | None = None
        self._open_lock = asyncio.Lock()
        self._account = AccountTurns(_lock_key(schema, _ACCOUNT_LOCK))  # the account lock (`account_lock`)
        self._held: _HeldLock | None = None  # the account lock's holder and its connection, while held

    @property
    def schema(self) -> str | None:
        return self._schema

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "connect_timeout": self._connect_timeout,
            "application_name": self._application_name,
        }

    async def _configure(self, conn: _Conn) -> None:
        if self._schema is not None:
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))

    # ---- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> PostgresStore:
        """Apply pending migrations, then open the pool. Opening an open store does nothing."""
        async with self._open_lock:
            if self._pool is None:
                await self.migrate()
                self._pool = await self._open_pool()
        return self

    async def migrate(self) -> list[int]:
        """Create the schema if missing and apply pending migrations; returns the versions applied now.

        Works without `open()`: the `aegis migrate` command calls only this.
        """
        try:
            conn = await psycopg.AsyncConnection.connect(self._url, **self._connect_kwargs())
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot reach PostgreSQL at {self._where}: {exc}") from exc
        try:
            await self._configure(conn)
            db = _Connection(conn, self._schema)
            key = _lock_key(self._schema, _MIGRATIONS_LOCK)
            await db.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                await self._create_schema(db)
                return await apply_migrations(db, self._clock.now())
            finally:
                with suppress(psycopg.Error):
                    await db.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot prepare PostgreSQL store {self._where}: {exc}") from exc
        finally:
            await conn.close()

    async def _create_schema(self, db: _Connection) -> None:
        # Looked up first: CREATE SCHEMA checks the CREATE privilege even when the schema exists.
        if self._schema is None:
            return
        if await db.fetch_one("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self._schema,)):
            return
        await db.raw.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema)))

    async def _open_pool(self) -> AsyncConnectionPool[_Conn]:
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._url,
            kwargs=self._connect_kwargs(),
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            configure=self._configure,
            check=probe_idle,
            timeout=self._acquire_timeout,
            name=f"aegis-store {self._where}",
        )
        try:
            await pool.open(wait=True, timeout=self._acquire_timeout)
        except psycopg.Error as exc:
            await pool.close()
            raise StoreUnavailableError(f"cannot fill the pool for {self._where}: {exc}") from exc
        return pool

    async def reconnect(self) -> None:
        """After an outage: ping every idle pooled connection now and replace the dead ones (the pool would find
        each at its next checkout; the health monitor asks once the server answers again). Raises
        `StoreUnavailableError` while the server is still away."""
        pool = self._pool
        if pool is None:
            raise StoreClosedError(f"PostgreSQL store {self._where} is not open")
        try:
            await pool.check()
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"{self._where}: {exc}") from exc

    async def close(self) -> None:
        async with self._open_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            with suppress(psycopg.Error):
                await self._account.drop(pool)  # a lock kept for a holder that never came
            await pool.close()

    async def __aenter__(self) -> PostgresStore:
        return await self.open()

    @asynccontextmanager
    async def _use(self, *, transaction: bool = False) -> AsyncIterator[_Connection]:
        await self._release_marks()  # held-back marks first: this statement reads or writes after them
        pool = self._pool
        if pool is None:
            raise StoreClosedError(f"PostgreSQL store {self._where} is not open")
        held = self._held_by_this_task()
        try:
            if held is not None:  # the account lock's holder: its own connection, not a place in the pool's queue
                held.busy = True
            with self._translated():
                async with nullcontext(held.conn) if held is not None else pool.connection() as conn:
                    db = _Connection(conn, self._schema)
                    if transaction:
                        async with db.transaction():
                            yield db
                    else:
                        yield db
        finally:
            if held is not None:
                held.busy = False

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """psycopg's and the pool's errors as the store's."""
        try:
            yield
        except PoolClosed as exc:
            raise StoreClosedError(f"PostgreSQL store {self._where} was closed") from exc
        except psycopg.IntegrityError as exc:
            raise StoreConflictError(f"{self._where}: {exc}") from exc
        except psycopg.DataError as exc:  # e.g. a NUL character, which PostgreSQL text cannot hold
            raise InvalidRecordError(f"{self._where} refuses the value: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"{self._where}: {exc}") from exc

    def _held_by_this_task(self) -> _HeldLock | None:
        """The account lock's connection, if this very task holds the lock and is not using it already."""
        held = self._held
        if held is None or held.busy or held.task is not asyncio.current_task():
            return None
        return held

    @asynccontextmanager
    async def account_lock(self) -> AsyncIterator[None]:
        """One writer of the account's orders at a time, across every process: a session advisory lock on
        a pooled connection, held until the block ends (or the connection dies, which releases it).

        The sessions of this process queue for it in the process first, and the lock passes from one to
        the next without being released while they do (`postgres_lock`). Inside the block, the holding
        task's statements go through the lock's connection (`_use`): the holder never queues for the pool
        behind sessions that do not hold the lock, which would stretch the time every other writer waits."""
        await self._release_marks()  # held-back marks first, as `_use` does: the holder reads and writes after them
        pool = self._pool
        if pool is None:
            raise StoreClosedError(f"PostgreSQL store {self._where} is not open")
        with self._translated():
            async with self._account.hold(pool) as conn:
                self._held = _HeldLock(asyncio.current_task(), conn)
                try:
                    yield
                finally:
                    self._held = None

    # ---- writers of append-only tables take turns --------------------------------------------------

    async def _take_turn(self, db: SqlConnection, table: str) -> None:
        await cast(_Connection, db).take_turn(table)

    def _lock_key(self, table: str) -> int:
        return _lock_key(self._schema, table)

    # ---- the writes on every event's path: one round trip each (`pg_writes`) ----------------------

    async def record_event(self, event_id: str, event_type: str, received_at: datetime, raw: Mapping[str, Any]) -> bool:
        row = (event_id, event_type, ts(received_at), json_text(raw), event_chain(event_id, raw))
        async with self._use() as db:
            inserted = await db.run_script(pg_writes.record_event(self._lock_key, row))
        return len(inserted) == 1

    async def save_order(self, order: Order) -> Order:
        """One round trip (`pg_writes.save_order`): the order and its chain link, under the orders' turn. The
        order is written inside the account lock, where every round trip lengthens every other session's wait."""
        async with self._use() as db:
            [(inserted,)] = await db.run_script(pg_writes.save_order(self._lock_key, order_row(order)))
            if inserted == 1:
                return order
            return await self._order_held(db, order)

    async def finish_session(self, record: DecisionRecord, end: SessionEnd, at: datetime) -> Finished | None:
        statements = pg_writes.finish_session(self._lock_key, decision_row(record), end, at)
        async with self._use() as db:
            [(decided, streak, posture_changed)] = await db.run_script(statements)
        if not decided:
            return None
        log_audit(end.audit)  # written with the decision, in the script's one transaction
        return Finished(0 if streak is None else int(streak), bool(posture_changed))
