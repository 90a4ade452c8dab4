"""The embedded durable store: one SQLite file, WAL journal, one aiosqlite connection.

This module owns every SQL statement the embedded system runs against its durable store, and the
translation of rows to and from the schemas of `state.orders` and `state.decisions`. It implements
`DurableStore`; the schema itself lives in `migrations/` and is applied on `open()`.

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
import math
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiosqlite
from pydantic import BaseModel

from state.clock import Clock, WallClock
from state.context import RecentDecision
from state.decisions import DecisionRecord
from state.events import FieldError
from state.orders import Fill, FillReason, Order, OrderStatus, Position, Side
from state.store.base import (
    CorruptRecordError,
    InvalidRecordError,
    RecordNotFoundError,
    StoreClosedError,
    StoreConflictError,
    StoreUnavailableError,
)
from state.store.migrate import apply_migrations

__all__ = ["SqliteStore"]

_T = TypeVar("_T")
_A = TypeVar("_A")
_ACCOUNT = "default"
_BIGINT = range(-(2**63), 2**63)
_POSITION_COLUMNS = "symbol, quantity, avg_price, stop_loss_price, take_profit_price, opened_at, opened_by_event"
_FILL_COLUMNS = "fill_id, order_id, event_id, symbol, side, quantity, price, fee, reason, filled_at"


def _next_seq(table: str) -> str:
    # Portable stand-in for auto-increment; safe here because one locked connection does all writes.
    return f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table})"


# ---- codecs --------------------------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecordError(f"naive timestamp {moment.isoformat()}: the store needs aware times")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidRecordError(f"{name} must be a finite number, got {value}")
    return float(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # strict JSON has no NaN/inf; keep what arrived, as text
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True, allow_nan=False, default=str)


def _parse(kind: str, key: object, build: Callable[[_A], _T], raw: _A) -> _T:
    try:
        return build(raw)
    except (ValueError, TypeError, KeyError) as exc:  # pydantic and json errors are ValueErrors
        raise CorruptRecordError(f"stored {kind} {key!r} does not parse: {exc}") from exc


def _order_row(order: Order) -> tuple[Any, ...]:
    r = order.request
    return (
        r.symbol,
        r.side.value,
        r.order_type.value,
        r.quantity,
        order.status.value,
        _ts(r.created_at),
        _ts(order.updated_at),
        order.model_dump_json(),
        order.order_id,
        r.event_id,
    )


def _fill_row(fill: Fill) -> tuple[Any, ...]:
    return (
        fill.fill_id,
        fill.order_id,
        fill.event_id,
        fill.symbol,
        fill.side.value,
        fill.quantity,
        fill.price,
        fill.fee,
        fill.reason.value,
        _ts(fill.time),
    )


def _fill_from(row: Sequence[Any]) -> Fill:
    return Fill(
        fill_id=row[0],
        order_id=row[1],
        event_id=row[2],
        symbol=row[3],
        side=Side(row[4]),
        quantity=row[5],
        price=row[6],
        fee=row[7],
        reason=FillReason(row[8]),
        time=datetime.fromisoformat(row[9]),
    )


def _position_row(p: Position) -> tuple[Any, ...]:
    return (
        p.symbol,
        p.quantity,
        p.avg_price,
        p.stop_loss_price,
        p.take_profit_price,
        _ts(p.opened_at),
        p.opened_by_event,
    )


def _position_from(row: Sequence[Any]) -> Position:
    return Position(
        symbol=row[0],
        quantity=row[1],
        avg_price=row[2],
        stop_loss_price=row[3],
        take_profit_price=row[4],
        opened_at=datetime.fromisoformat(row[5]),
        opened_by_event=row[6],
    )


def _audit_entry(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "seq": int(row[0]),
        "at": datetime.fromisoformat(row[1]),
        "actor": row[2],
        "action": row[3],
        "detail": json.loads(row[4]),
    }


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

    async def record_event(self, event_id: str, event_type: str, received_at: datetime, raw: Mapping[str, Any]) -> None:
        params = (event_id, event_type, _ts(received_at), _json(raw))
        async with self._use() as db:
            await db.execute(
                "INSERT INTO events (event_id, seq, event_type, received_at, raw) "
                f"VALUES (?, {_next_seq('events')}, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                params,
            )

    async def record_rejection(
        self, event_id: str | None, raw: Mapping[str, Any], errors: Sequence[FieldError], at: datetime
    ) -> None:
        params = (event_id, _json(raw), _json([e.model_dump() for e in errors]), _ts(at))
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
        return [
            {
                "event_id": r[0],
                "raw": json.loads(r[1]),
                "errors": json.loads(r[2]),
                "rejected_at": datetime.fromisoformat(r[3]),
            }
            for r in rows
        ]

    # ---- decisions -------------------------------------------------------------------------------

    async def save_decision(self, record: DecisionRecord) -> bool:
        params = (
            record.event_id,
            record.event_type,
            record.outcome.value,
            record.symbol,
            _ts(record.decided_at),
            record.model_dump_json(),
        )
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
        return _parse("decision", event_id, DecisionRecord.model_validate_json, row[0])

    async def recent_decisions(self, limit: int) -> list[DecisionRecord]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, record FROM decisions ORDER BY decided_at DESC, seq DESC LIMIT ?", (limit,)
            )
        return [_parse("decision", r[0], DecisionRecord.model_validate_json, r[1]) for r in rows]

    async def recent_outcomes(self, limit: int) -> list[RecentDecision]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, symbol, outcome, decided_at FROM decisions "
                "ORDER BY decided_at DESC, seq DESC LIMIT ?",
                (limit,),
            )
        return [
            RecentDecision(event_id=r[0], symbol=r[1], outcome=r[2], decided_at=datetime.fromisoformat(r[3]))
            for r in rows
        ]

    # ---- orders and fills ------------------------------------------------------------------------

    async def save_order(self, order: Order) -> Order:
        row = _order_row(order)
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
        return _parse("order", order.event_id, Order.model_validate_json, existing[0])

    async def update_order(self, order: Order) -> None:
        async with self._use(transaction=True) as db:
            await self._update_order(db, order)

    async def _update_order(self, db: _Connection, order: Order) -> None:
        changed = await db.execute(
            "UPDATE orders SET symbol = ?, side = ?, order_type = ?, quantity = ?, status = ?, "
            "created_at = ?, updated_at = ?, record = ? WHERE order_id = ? AND event_id = ?",
            _order_row(order),
        )
        if changed != 1:
            raise RecordNotFoundError(f"no order {order.order_id} for event {order.event_id}")

    async def get_order_for_event(self, event_id: str) -> Order | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT record FROM orders WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        return _parse("order", event_id, Order.model_validate_json, row[0])

    async def open_orders(self) -> list[Order]:
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, record FROM orders WHERE status = ? ORDER BY created_at, order_id",
                (OrderStatus.PENDING.value,),
            )
        return [_parse("order", r[0], Order.model_validate_json, r[1]) for r in rows]

    async def save_fill(self, fill: Fill) -> None:
        async with self._use() as db:
            await self._insert_fill(db, fill)

    async def _insert_fill(self, db: _Connection, fill: Fill) -> bool:
        changed = await db.execute(
            f"INSERT INTO fills ({_FILL_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{_next_seq('fills')}) ON CONFLICT (fill_id) DO NOTHING",
            _fill_row(fill),
        )
        return changed == 1

    async def fills(self) -> list[Fill]:
        async with self._use() as db:
            rows = await db.fetch_all(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY seq")
        return [_parse("fill", r[0], _fill_from, r) for r in rows]

    async def book_fill(
        self, fill: Fill, order: Order | None, positions: Sequence[Position], cash: float, at: datetime
    ) -> bool:
        cash_row = (_ACCOUNT, _finite("cash", cash), _ts(at))
        position_rows = self._position_rows(positions)
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
    def _position_rows(positions: Sequence[Position]) -> list[tuple[Any, ...]]:
        symbols = [p.symbol for p in positions]
        if len(set(symbols)) != len(symbols):
            raise InvalidRecordError(f"a book holds one position per symbol, got {symbols}")
        return [_position_row(p) for p in positions]

    @staticmethod
    async def _write_positions(db: _Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        await db.execute("DELETE FROM positions")
        for row in rows:
            await db.execute(f"INSERT INTO positions ({_POSITION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    @staticmethod
    async def _write_cash(db: _Connection, row: tuple[Any, ...]) -> None:
        await db.execute(
            "INSERT INTO account (account_id, cash, updated_at) VALUES (?, ?, ?) ON CONFLICT (account_id) "
            "DO UPDATE SET cash = excluded.cash, updated_at = excluded.updated_at",
            row,
        )

    async def replace_positions(self, positions: Sequence[Position]) -> None:
        rows = self._position_rows(positions)
        async with self._use(transaction=True) as db:
            await self._write_positions(db, rows)

    async def positions(self) -> list[Position]:
        async with self._use() as db:
            rows = await db.fetch_all(f"SELECT {_POSITION_COLUMNS} FROM positions ORDER BY symbol")
        return [_parse("position", r[0], _position_from, r) for r in rows]

    async def save_cash(self, cash: float, at: datetime) -> None:
        row = (_ACCOUNT, _finite("cash", cash), _ts(at))
        async with self._use() as db:
            await self._write_cash(db, row)

    async def cash(self) -> float | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT cash FROM account WHERE account_id = ?", (_ACCOUNT,))
        return None if row is None else float(row[0])

    async def save_mark(self, symbol: str, price: float, at: datetime) -> None:
        row = (symbol, _finite("price", price), _ts(at))
        async with self._use() as db:
            await db.execute(
                "INSERT INTO marks (symbol, price, as_of) VALUES (?, ?, ?) ON CONFLICT (symbol) "
                "DO UPDATE SET price = excluded.price, as_of = excluded.as_of",
                row,
            )

    async def marks(self) -> dict[str, tuple[float, datetime]]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT symbol, price, as_of FROM marks ORDER BY symbol")
        return {r[0]: (float(r[1]), _parse("mark", r[0], datetime.fromisoformat, r[2])) for r in rows}

    # ---- posture, audit, counters ----------------------------------------------------------------

    async def record_posture(self, posture: str, reason: str, vix: float | None, at: datetime) -> None:
        # SQLite cannot hold NaN (it becomes NULL); an unusable VIX is recorded as unknown on every engine.
        known_vix = vix if vix is not None and math.isfinite(vix) else None
        async with self._use() as db:
            await db.execute(
                "INSERT INTO posture_history (seq, changed_at, posture, reason, vix) "
                f"VALUES ({_next_seq('posture_history')}, ?, ?, ?, ?)",
                (_ts(at), posture, reason, known_vix),
            )

    async def posture_history(self) -> list[tuple[datetime, str, str, float | None]]:
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT changed_at, posture, reason, vix FROM posture_history ORDER BY changed_at, seq"
            )
        return [(_parse("posture", r[0], datetime.fromisoformat, r[0]), r[1], r[2], r[3]) for r in rows]

    async def audit(self, actor: str, action: str, detail: Mapping[str, Any], at: datetime) -> None:
        async with self._use() as db:
            await db.execute(
                "INSERT INTO audit_log (seq, recorded_at, actor, action, detail) "
                f"VALUES ({_next_seq('audit_log')}, ?, ?, ?, ?)",
                (_ts(at), actor, action, _json(detail)),
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
        return [_parse("audit entry", r[0], _audit_entry, r) for r in rows]

    async def get_counter(self, name: str) -> int:
        async with self._use() as db:
            row = await db.fetch_one("SELECT value FROM counters WHERE name = ?", (name,))
        return 0 if row is None else int(row[0])

    async def set_counter(self, name: str, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value not in _BIGINT:
            raise InvalidRecordError(f"counter {name} must be a 64-bit integer, got {value!r}")
        async with self._use() as db:
            await db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
