"""The embedded durable store: one SQLite file, WAL journal, one aiosqlite connection.

This module owns every SQL statement the embedded system runs against its durable store, and the
translation of rows to and from the schemas of `state.orders` and `state.decisions`. It implements
`DurableStore`; the schema itself lives in `migrations/` and is applied on `open()`; the stored form of
each value (the row codecs) is shared with the PostgreSQL store through `rows`.

Decisions that must not be silently changed:
- One connection, one asyncio lock: each public method holds the lock for its whole statement or
  transaction, so coroutines sharing the store never read another's half-written transaction.
- A write of more than one statement runs in one `BEGIN IMMEDIATE` transaction; single statements autocommit.
- `synchronous=FULL`: a committed fill survives a power cut, not only a crash of the process.
- Timestamps are stored as fixed-width ISO-8601 UTC text (text order is time order); naive ones are refused.
- JSON is stored strict (no NaN tokens): a non-finite float inside a raw event is kept as its string.
- It never decides *what* to store (no business rules), and no SQL leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from state.clock import Clock, WallClock
from state.context import RecentDecision
from state.decisions import DecisionRecord
from state.events import Bar, FieldError
from state.orders import Fill, Order, OrderStatus, Position
from state.store.base import (
    RecordNotFoundError,
    StoreClosedError,
    StoreConflictError,
    StoreUnavailableError,
)
from state.store.migrate import apply_migrations
from state.store.rows import (
    ACCOUNT,
    FILL_COLUMNS,
    POSITION_COLUMNS,
    audit_entry,
    book_rows,
    counter_value,
    decision_row,
    fill_from,
    fill_row,
    finite,
    json_text,
    known_vix,
    order_row,
    parse,
    position_from,
    recent_outcome,
    rejection_entry,
    ts,
)

__all__ = ["SqliteStore"]


def _next_seq(table: str) -> str:
    # Portable stand-in for auto-increment; safe here because one locked connection does all writes.
    return f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table})"


# ---- the connection ------------------------------------------------------------------------------


class _Connection:
    """`SqlExecutor` over one aiosqlite connection in autocommit mode, with explicit transactions."""

    placeholder = "?"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.raw.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.raw.execute(sql, tuple(params)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.execute("BEGIN IMMEDIATE")
        try:
            yield
            await self.execute("COMMIT")
        except BaseException:
            if self.raw.in_transaction:  # also when COMMIT itself failed: never leave a transaction open
                with suppress(sqlite3.Error):
                    await self.execute("ROLLBACK")
            raise


# ---- the store -----------------------------------------------------------------------------------


class SqliteStore:
    """`DurableStore` on a SQLite file. Use `async with SqliteStore(path) as store:` or `open()`/`close()`.

    `clock` only stamps applied migrations; every other time is given by the caller.
    """

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self._path = str(path)
        self._clock: Clock = clock or WallClock()
        self._db: _Connection | None = None
        self._lock = asyncio.Lock()

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
            conn = await aiosqlite.connect(self._path, isolation_level=None)
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

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def _use(self, *, transaction: bool = False) -> AsyncIterator[_Connection]:
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

    # ---- events ----------------------------------------------------------------------------------

    async def record_event(self, event_id: str, event_type: str, received_at: datetime, raw: Mapping[str, Any]) -> bool:
        params = (event_id, event_type, ts(received_at), json_text(raw))
        async with self._use() as db:
            inserted = await db.execute(
                "INSERT INTO events (event_id, seq, event_type, received_at, raw) "
                f"VALUES (?, {_next_seq('events')}, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                params,
            )
        return inserted == 1

    async def record_rejection(
        self, event_id: str | None, raw: Mapping[str, Any], errors: Sequence[FieldError], at: datetime
    ) -> None:
        params = (event_id, json_text(raw), json_text([e.model_dump() for e in errors]), ts(at))
        async with self._use() as db:
            await db.execute(
                "INSERT INTO rejected_events (seq, event_id, raw, errors, rejected_at) "
                f"VALUES ({_next_seq('rejected_events')}, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                params,
            )

    async def rejected_events(self, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, raw, errors, rejected_at FROM rejected_events ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
        return [rejection_entry(r) for r in rows]

    # ---- decisions -------------------------------------------------------------------------------

    async def save_decision(self, record: DecisionRecord) -> bool:
        params = decision_row(record)
        async with self._use() as db:
            changed = await db.execute(
                "INSERT INTO decisions (event_id, seq, event_type, outcome, symbol, decided_at, record) "
                f"VALUES (?, {_next_seq('decisions')}, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                params,
            )
        return changed == 1

    async def get_decision(self, event_id: str) -> DecisionRecord | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT record FROM decisions WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        return parse("decision", event_id, DecisionRecord.model_validate_json, row[0])

    async def recent_decisions(self, limit: int) -> list[DecisionRecord]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, record FROM decisions ORDER BY decided_at DESC, seq DESC LIMIT ?", (limit,)
            )
        return [parse("decision", r[0], DecisionRecord.model_validate_json, r[1]) for r in rows]

    async def recent_outcomes(self, limit: int) -> list[RecentDecision]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, symbol, outcome, decided_at FROM decisions "
                "ORDER BY decided_at DESC, seq DESC LIMIT ?",
                (limit,),
            )
        return [recent_outcome(r) for r in rows]

    # ---- orders and fills ------------------------------------------------------------------------

    async def save_order(self, order: Order) -> Order:
        row = order_row(order)
        async with self._use(transaction=True) as db:
            inserted = await db.execute(
                "INSERT INTO orders (symbol, side, order_type, quantity, status, created_at, updated_at, "
                "record, order_id, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                row,
            )
            if inserted == 1:
                return order
            existing = await db.fetch_one("SELECT record FROM orders WHERE event_id = ?", (order.event_id,))
        if existing is None:
            raise StoreConflictError(f"order id {order.order_id} is already held by another event's order")
        return parse("order", order.event_id, Order.model_validate_json, existing[0])

    async def update_order(self, order: Order) -> None:
        async with self._use(transaction=True) as db:
            await self._update_order(db, order)

    async def _update_order(self, db: _Connection, order: Order) -> None:
        changed = await db.execute(
            "UPDATE orders SET symbol = ?, side = ?, order_type = ?, quantity = ?, status = ?, "
            "created_at = ?, updated_at = ?, record = ? WHERE order_id = ? AND event_id = ?",
            order_row(order),
        )
        if changed != 1:
            raise RecordNotFoundError(f"no order {order.order_id} for event {order.event_id}")

    async def get_order_for_event(self, event_id: str) -> Order | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT record FROM orders WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        return parse("order", event_id, Order.model_validate_json, row[0])

    async def open_orders(self) -> list[Order]:
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, record FROM orders WHERE status = ? ORDER BY created_at, order_id",
                (OrderStatus.PENDING.value,),
            )
        return [parse("order", r[0], Order.model_validate_json, r[1]) for r in rows]

    async def save_fill(self, fill: Fill) -> None:
        async with self._use() as db:
            await self._insert_fill(db, fill)

    async def _insert_fill(self, db: _Connection, fill: Fill) -> bool:
        changed = await db.execute(
            f"INSERT INTO fills ({FILL_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{_next_seq('fills')}) ON CONFLICT (fill_id) DO NOTHING",
            fill_row(fill),
        )
        return changed == 1

    async def fills(self) -> list[Fill]:
        async with self._use() as db:
            rows = await db.fetch_all(f"SELECT {FILL_COLUMNS} FROM fills ORDER BY seq")
        return [parse("fill", r[0], fill_from, r) for r in rows]

    async def book_fill(
        self, fill: Fill, order: Order | None, positions: Sequence[Position], cash: float, at: datetime
    ) -> bool:
        cash_row = (ACCOUNT, finite("cash", cash), ts(at))
        position_rows = book_rows(positions)
        async with self._use(transaction=True) as db:
            if not await self._insert_fill(db, fill):
                return False
            if order is not None:
                await self._update_order(db, order)
            await self._write_positions(db, position_rows)
            await self._write_cash(db, cash_row)
        return True

    # ---- the book --------------------------------------------------------------------------------

    @staticmethod
    async def _write_positions(db: _Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        await db.execute("DELETE FROM positions")
        for row in rows:
            await db.execute(f"INSERT INTO positions ({POSITION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    @staticmethod
    async def _write_cash(db: _Connection, row: tuple[Any, ...]) -> None:
        await db.execute(
            "INSERT INTO account (account_id, cash, updated_at) VALUES (?, ?, ?) ON CONFLICT (account_id) "
            "DO UPDATE SET cash = excluded.cash, updated_at = excluded.updated_at",
            row,
        )

    async def replace_positions(self, positions: Sequence[Position]) -> None:
        rows = book_rows(positions)
        async with self._use(transaction=True) as db:
            await self._write_positions(db, rows)

    async def positions(self) -> list[Position]:
        async with self._use() as db:
            rows = await db.fetch_all(f"SELECT {POSITION_COLUMNS} FROM positions ORDER BY symbol")
        return [parse("position", r[0], position_from, r) for r in rows]

    async def save_cash(self, cash: float, at: datetime) -> None:
        row = (ACCOUNT, finite("cash", cash), ts(at))
        async with self._use() as db:
            await self._write_cash(db, row)

    async def cash(self) -> float | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT cash FROM account WHERE account_id = ?", (ACCOUNT,))
        return None if row is None else float(row[0])

    async def save_mark(self, symbol: str, price: float, at: datetime) -> None:
        row = (symbol, finite("price", price), ts(at))
        async with self._use() as db:
            await db.execute(
                "INSERT INTO marks (symbol, price, as_of) VALUES (?, ?, ?) ON CONFLICT (symbol) "
                "DO UPDATE SET price = excluded.price, as_of = excluded.as_of",
                row,
            )

    async def marks(self) -> dict[str, tuple[float, datetime]]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT symbol, price, as_of FROM marks ORDER BY symbol")
        return {r[0]: (float(r[1]), parse("mark", r[0], datetime.fromisoformat, r[2])) for r in rows}

    # ---- the durable copy of the market context --------------------------------------------------

    async def save_bar(self, symbol: str, bar: Bar) -> None:
        row = (symbol, ts(bar.time), bar.model_dump_json())
        async with self._use() as db:
            await db.execute(
                "INSERT INTO market_bars (symbol, bar_time, record) VALUES (?, ?, ?) "
                "ON CONFLICT (symbol, bar_time) DO NOTHING",
                row,
            )

    async def recent_bars(self, symbol: str, limit: int) -> list[Bar]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT bar_time, record FROM market_bars WHERE symbol = ? ORDER BY bar_time DESC LIMIT ?",
                (symbol, limit),
            )
        return [parse("bar", r[0], Bar.model_validate_json, r[1]) for r in reversed(rows)]

    async def put_value(self, name: str, value: Any, at: datetime) -> None:
        row = (name, json_text(value), ts(at))
        async with self._use() as db:
            await db.execute(
                "INSERT INTO hot_values (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                row,
            )

    async def get_value(self, name: str) -> tuple[Any, datetime] | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT value, updated_at FROM hot_values WHERE name = ?", (name,))
        if row is None:
            return None
        return parse("value", name, json.loads, row[0]), parse("value", name, datetime.fromisoformat, row[1])

    # ---- posture, audit, counters ----------------------------------------------------------------

    async def record_posture(self, posture: str, reason: str, vix: float | None, at: datetime) -> None:
        async with self._use() as db:
            await db.execute(
                "INSERT INTO posture_history (seq, changed_at, posture, reason, vix) "
                f"VALUES ({_next_seq('posture_history')}, ?, ?, ?, ?)",
                (ts(at), posture, reason, known_vix(vix)),
            )

    async def posture_history(self) -> list[tuple[datetime, str, str, float | None]]:
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT changed_at, posture, reason, vix FROM posture_history ORDER BY changed_at, seq"
            )
        return [(parse("posture", r[0], datetime.fromisoformat, r[0]), r[1], r[2], r[3]) for r in rows]

    async def audit(self, actor: str, action: str, detail: Mapping[str, Any], at: datetime) -> None:
        async with self._use() as db:
            await db.execute(
                "INSERT INTO audit_log (seq, recorded_at, actor, action, detail) "
                f"VALUES ({_next_seq('audit_log')}, ?, ?, ?, ?)",
                (ts(at), actor, action, json_text(detail)),
            )

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT seq, recorded_at, actor, action, detail FROM audit_log "
                "ORDER BY recorded_at DESC, seq DESC LIMIT ?",
                (limit,),
            )
        return [parse("audit entry", r[0], audit_entry, r) for r in rows]

    async def get_counter(self, name: str) -> int:
        async with self._use() as db:
            row = await db.fetch_one("SELECT value FROM counters WHERE name = ?", (name,))
        return 0 if row is None else int(row[0])

    async def set_counter(self, name: str, value: int) -> None:
        value = counter_value(name, value)
        async with self._use() as db:
            await db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
