"""The SQL both durable stores share: one implementation of the protocol's records, two engines below it.

SQL here is written once, with `?` placeholders (the PostgreSQL connection translates them) and the portable
schema of the migrations. An engine supplies the connection (`_use`), its way of serialising writers of an
append-only table (`_take_turn`: nothing on SQLite's single locked connection, an advisory lock on
PostgreSQL), and the few statements whose SQL differs (orders, fills, ordering by symbol).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from state.context import RecentDecision
from state.decisions import DecisionRecord
from state.events import Bar, FieldError
from state.orders import Fill, Order, OrderStatus, Position
from state.store.audit_lines import log_audit
from state.store.base import (
    AccountBook,
    AuditEntry,
    BookSnapshot,
    BrokerBook,
    EventConflict,
    Finished,
    ListAppend,
    RecordNotFoundError,
    SessionEnd,
    StoreConflictError,
)
from state.store.record_chain import stream_named
from state.store.rows import (
    ACCOUNT,
    FILL_COLUMNS,
    POSITION_COLUMNS,
    audit_entry,
    book_rows,
    conflict_entry,
    content_hash,
    counter_value,
    decision_row,
    event_chain,
    fill_from,
    fill_row,
    finite,
    json_text,
    known_vix,
    order_from_json,
    order_row,
    parse,
    position_from,
    recent_outcome,
    rejection_entry,
    ts,
)
from state.store.sql_api_keys import SqlApiKeys
from state.store.sql_approvals import SqlApprovals
from state.store.sql_bots import SqlBots
from state.store.sql_chains import SqlChains
from state.store.sql_controls import SqlControls
from state.store.sql_limits import SqlLimits
from state.store.sql_market import PUT_VALUE, SAVE_BAR, SAVE_MARK, SqlMarketWrites, mark_row
from state.store.sql_recent_orders import SqlRecentOrders
from state.store.sql_record_chain import SqlRecordChain
from state.store.sql_rules import SqlRules
from state.trading import TradingStatus


def _next_seq(table: str) -> str:
    # Portable stand-in for auto-increment: correct because writers of `table` take turns (`_take_turn`).
    return f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table})"


def _hot_values_query(count: int) -> str:
    return f"SELECT name, value, updated_at FROM hot_values WHERE name IN ({', '.join('?' * count)})"


def _counters_query(count: int) -> str:
    return "SELECT name, value FROM counters WHERE " + (f"name IN ({', '.join('?' * count)})" if count else "1 = 0")


def _hot_values(rows: Sequence[Sequence[Any]]) -> dict[str, tuple[Any, datetime]]:
    return {
        r[0]: (parse("value", r[0], json.loads, r[1]), parse("value", r[0], datetime.fromisoformat, r[2])) for r in rows
    }


class SqlConnection(Protocol):
    async def execute(self, query: str, params: Sequence[Any] = ()) -> int: ...

    async def fetch_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def fetch_one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    async def fetch_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows; PostgreSQL sends them all in one round trip."""
        ...

    async def execute_many(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """`query` once per row (PostgreSQL pipelines them: one round trip, not one per row)."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction commits (at once outside one); never if it rolls back."""
        ...


async def _upsert_value(db: SqlConnection, row: tuple[str, str, str]) -> None:
    """(name, JSON text, updated at) into the durable values."""
    await db.execute(PUT_VALUE, row)


class SqlStore(
    SqlControls,
    SqlBots,
    SqlRules,
    SqlApprovals,
    SqlChains,
    SqlRecentOrders,
    SqlLimits,
    SqlApiKeys,
    SqlMarketWrites,
    SqlRecordChain,
    ABC,
):
    """The protocol's methods whose SQL is the same on every engine."""

    _byte_order = ""  # how to make ORDER BY symbol compare bytes (SQLite's default; PostgreSQL needs COLLATE "C")

    # The reads of a session's start (`book_snapshot`), also used one by one.
    _POSITIONS = f"SELECT {POSITION_COLUMNS} FROM positions ORDER BY symbol"  # + _byte_order
    _CASH = "SELECT cash FROM account WHERE account_id = ?"
    _COUNTER = "SELECT value FROM counters WHERE name = ?"
    _OPEN_ORDERS = "SELECT event_id, record FROM orders WHERE status = ? ORDER BY created_at, order_id"  # + _byte_order
    _RECENT_OUTCOMES = (
        "SELECT event_id, symbol, outcome, decided_at FROM decisions ORDER BY decided_at DESC, seq DESC LIMIT ?"
    )

    def batch(self) -> AbstractAsyncContextManager[None]:
        """Each write commits as it goes (PostgreSQL's commits cost no fsync per batch saved); SQLite
        overrides it with one transaction."""
        return nullcontext()

    @abstractmethod
    def _use(self, *, transaction: bool = False) -> AbstractAsyncContextManager[SqlConnection]:
        """A connection (in a transaction if asked), translating the engine's errors to `StoreError`s."""

    @abstractmethod
    async def _take_turn(self, db: SqlConnection, table: str) -> None:
        """Wait for the other writers of an append-only `table` (inside the current transaction)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def record_event(self, event_id: str, event_type: str, received_at: datetime, raw: Mapping[str, Any]) -> bool:
        params = (event_id, event_type, ts(received_at), json_text(raw), event_chain(event_id, raw))
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "events")
            inserted = await db.execute(
                "INSERT INTO events (event_id, seq, event_type, received_at, raw, correlation_id) "
                f"VALUES (?, {_next_seq('events')}, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                params,
            )
        return inserted == 1

    async def record_rejection(
        self, event_id: str | None, raw: Mapping[str, Any], errors: Sequence[FieldError], at: datetime
    ) -> None:
        params = (event_id, json_text(raw), json_text([e.model_dump() for e in errors]), ts(at))
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "rejected_events")
            await db.execute(
                "INSERT INTO rejected_events (seq, event_id, raw, errors, rejected_at) "
                f"VALUES ({_next_seq('rejected_events')}, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                params,
            )

    async def check_redelivery(self, event_id: str, raw: Mapping[str, Any], at: datetime) -> EventConflict | None:
        text = json_text(raw)
        new_hash = content_hash(text)
        async with self._use(transaction=True) as db:
            first = await db.fetch_one("SELECT raw FROM events WHERE event_id = ?", (event_id,))
            if first is None or content_hash(first[0]) == new_hash:
                return None
            conflict = EventConflict(event_id, content_hash(first[0]), new_hash, at)
            await self._take_turn(db, "event_conflicts")
            await db.execute(
                "INSERT INTO event_conflicts (seq, event_id, first_hash, new_hash, raw, detected_at) "
                f"VALUES ({_next_seq('event_conflicts')}, ?, ?, ?, ?, ?) ON CONFLICT (event_id, new_hash) DO NOTHING",
                (event_id, conflict.first_hash, new_hash, text, ts(at)),
            )
        return conflict

    async def event_conflicts(self, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, first_hash, new_hash, raw, detected_at FROM event_conflicts "
                "ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
        return [conflict_entry(r) for r in rows]

    async def rejected_events(self, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, raw, errors, rejected_at FROM rejected_events ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
        return [rejection_entry(r) for r in rows]

    async def save_decision(self, record: DecisionRecord) -> bool:
        row = decision_row(record)
        async with self._use(transaction=True) as db:
            return await self._insert_decision(db, row)

    async def finish_session(self, record: DecisionRecord, end: SessionEnd, at: datetime) -> Finished | None:
        row = decision_row(record)
        streak, posture_changed = 0, False
        async with self._use(transaction=True) as db:
            if not await self._insert_decision(db, row):
                return None
            if end.streak_counter is not None:
                streak = await self._count_streak(db, end.streak_counter, end.failed)
            if end.posture is not None:
                posture_changed = await self._insert_posture_change(db, *end.posture, at)
            if end.audit:
                await self._insert_audit(db, end.audit, at)
            for append in end.appends:
                await self._append_to_list(db, append, at)
        return Finished(streak, posture_changed)

    async def _insert_posture_change(
        self, db: SqlConnection, posture: str, reason: str, vix: float | None, at: datetime
    ) -> bool:
        await self._take_turn(db, "posture_history")
        last = await db.fetch_one("SELECT posture FROM posture_history ORDER BY seq DESC LIMIT 1")
        if last is not None and last[0] == posture:
            return False
        await self._insert_posture(db, posture, reason, vix, at)
        return True

    @staticmethod
    async def _append_to_list(db: SqlConnection, append: ListAppend, at: datetime) -> None:
        row = await db.fetch_one("SELECT value FROM hot_values WHERE name = ?", (append.name,))
        held = parse("value", append.name, json.loads, row[0]) if row is not None else []
        items = [*(held if isinstance(held, list) else []), append.item][-append.keep :]
        await _upsert_value(db, (append.name, json_text(items), ts(at)))

    async def _insert_decision(self, db: SqlConnection, row: tuple[Any, ...]) -> bool:
        await self._take_turn(db, "decisions")
        changed = await db.execute(
            "INSERT INTO decisions (event_id, seq, event_type, outcome, symbol, decided_at, record, correlation_id) "
            f"VALUES (?, {_next_seq('decisions')}, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            row,
        )
        if changed != 1:
            return False
        await self._link(db, stream_named("decisions"), (row[0],))
        return True

    @staticmethod
    async def _count_streak(db: SqlConnection, name: str, failed: bool) -> int:
        """+1 on a failure, back to 0 otherwise, in one statement (no read-modify-write race)."""
        row = await db.fetch_one(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
            "DO UPDATE SET value = CASE WHEN ? THEN counters.value + 1 ELSE 0 END RETURNING value",
            (name, int(failed), failed),
        )
        return 0 if row is None else int(row[0])

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

    async def decisions(self) -> list[DecisionRecord]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT event_id, record FROM decisions ORDER BY seq")
        return [parse("decision", r[0], DecisionRecord.model_validate_json, r[1]) for r in rows]

    async def recent_outcomes(self, limit: int) -> list[RecentDecision]:
        if limit <= 0:
            return []
        async with self._use() as db:
            rows = await db.fetch_all(self._RECENT_OUTCOMES, (limit,))
        return [recent_outcome(r) for r in rows]

    async def book_snapshot(self, counters: Sequence[str], recent: int, values: Sequence[str] = ()) -> BookSnapshot:
        statements = [
            (self._POSITIONS + self._byte_order, ()),
            (self._CASH, (ACCOUNT,)),
            (_counters_query(len(counters)), tuple(counters)),
            (self._RECENT_OUTCOMES, (max(recent, 0),)),
        ]
        if values:
            statements.append((_hot_values_query(len(values)), tuple(values)))
        async with self._use() as db:
            positions, cash, counted, outcomes, *copies = await db.fetch_many(statements)
        held = {str(name): int(value) for name, value in counted}
        return BookSnapshot(
            positions=tuple(parse("position", r[0], position_from, r) for r in positions),
            cash=float(cash[0][0]) if cash else None,
            counters={name: held.get(name, 0) for name in counters},
            recent=tuple(recent_outcome(r) for r in outcomes),
            values={name: value for name, (value, _) in _hot_values(copies[0] if copies else []).items()},
        )

    async def account_book(self) -> AccountBook:
        statements = [
            (self._POSITIONS + self._byte_order, ()),
            (self._CASH, (ACCOUNT,)),
            (self._OPEN_ORDERS + self._byte_order, (OrderStatus.PENDING.value,)),
            ("SELECT symbol, price FROM marks", ()),
            ("SELECT scope, record FROM trading_states", ()),
        ]
        async with self._use() as db:
            positions, cash, orders, marks, trading = await db.fetch_many(statements)
        return AccountBook(
            positions=tuple(parse("position", r[0], position_from, r) for r in positions),
            cash=None if not cash else float(cash[0][0]),
            open_orders=tuple(parse("order", r[0], order_from_json, r[1]) for r in orders),
            marks={r[0]: float(r[1]) for r in marks},
            trading=tuple(parse("trading state", r[0], TradingStatus.model_validate_json, r[1]) for r in trading),
        )

    async def get_order_for_event(self, event_id: str) -> Order | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT record FROM orders WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        return parse("order", event_id, order_from_json, row[0])

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

    async def _write_positions(self, db: SqlConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        await self._take_turn(db, "positions")
        await db.execute("DELETE FROM positions")
        for row in rows:
            await db.execute(f"INSERT INTO positions ({POSITION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    @staticmethod
    async def _write_cash(db: SqlConnection, row: tuple[Any, ...]) -> None:
        await db.execute(
            "INSERT INTO account (account_id, cash, updated_at) VALUES (?, ?, ?) ON CONFLICT (account_id) "
            "DO UPDATE SET cash = excluded.cash, updated_at = excluded.updated_at",
            row,
        )

    async def replace_positions(self, positions: Sequence[Position]) -> None:
        rows = book_rows(positions)
        async with self._use(transaction=True) as db:
            await self._write_positions(db, rows)

    async def save_cash(self, cash: float, at: datetime) -> None:
        row = (ACCOUNT, finite("cash", cash), ts(at))
        async with self._use() as db:
            await self._write_cash(db, row)

    async def cash(self) -> float | None:
        async with self._use() as db:
            row = await db.fetch_one(self._CASH, (ACCOUNT,))
        return None if row is None else float(row[0])

    async def save_mark(self, symbol: str, price: float, at: datetime) -> None:
        row = mark_row(symbol, price, at)
        if self._hold_mark(row):  # a feed's batch: written with its bars (`sql_market`)
            return
        async with self._use() as db:
            await db.execute(SAVE_MARK, row)

    async def save_bar(self, symbol: str, bar: Bar) -> None:
        row = (symbol, ts(bar.time), bar.model_dump_json())
        async with self._use() as db:
            await db.execute(SAVE_BAR, row)

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
            await _upsert_value(db, row)

    async def get_value(self, name: str) -> tuple[Any, datetime] | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT value, updated_at FROM hot_values WHERE name = ?", (name,))
        if row is None:
            return None
        return parse("value", name, json.loads, row[0]), parse("value", name, datetime.fromisoformat, row[1])

    async def get_values(self, names: Sequence[str]) -> dict[str, tuple[Any, datetime]]:
        if not names:
            return {}
        async with self._use() as db:
            rows = await db.fetch_all(_hot_values_query(len(names)), names)
        return _hot_values(rows)

    async def posture_history(self) -> list[tuple[datetime, str, str, float | None]]:
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT changed_at, posture, reason, vix FROM posture_history ORDER BY changed_at, seq"
            )
        return [(parse("posture", r[0], datetime.fromisoformat, r[0]), r[1], r[2], r[3]) for r in rows]

    async def get_counter(self, name: str) -> int:
        async with self._use() as db:
            row = await db.fetch_one(self._COUNTER, (name,))
        return 0 if row is None else int(row[0])

    async def add_to_counter(self, name: str, amount: int) -> int:
        amount = counter_value(name, amount)
        async with self._use() as db:
            row = await db.fetch_one(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value",
                (name, amount),
            )
        return 0 if row is None else int(row[0])

    async def set_counter(self, name: str, value: int) -> None:
        value = counter_value(name, value)
        async with self._use() as db:
            await db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _insert_fill(self, db: SqlConnection, fill: Fill) -> bool:
        await self._take_turn(db, "fills")
        changed = await db.execute(
            f"INSERT INTO fills ({FILL_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{_next_seq('fills')}) ON CONFLICT (fill_id) DO NOTHING",
            fill_row(fill),
        )
        if changed != 1:
            return False
        await self._link(db, stream_named("fills"), (fill.fill_id,))
        return True

    async def positions(self) -> list[Position]:
        async with self._use() as db:
            rows = await db.fetch_all(self._POSITIONS + self._byte_order)
        return [parse("position", r[0], position_from, r) for r in rows]

    async def marks(self) -> dict[str, tuple[float, datetime]]:
        async with self._use() as db:
            rows = await db.fetch_all(f"SELECT symbol, price, as_of FROM marks ORDER BY symbol{self._byte_order}")
        return {r[0]: (float(r[1]), parse("mark", r[0], datetime.fromisoformat, r[2])) for r in rows}

    async def broker_book(self) -> BrokerBook:
        statements = [
            (self._CASH, (ACCOUNT,)),
            (self._POSITIONS + self._byte_order, ()),
            (f"SELECT symbol, price, as_of FROM marks ORDER BY symbol{self._byte_order}", ()),
            (self._OPEN_ORDERS + self._byte_order, (OrderStatus.PENDING.value,)),
        ]
        # The marks this process holds back are laid over the stored ones (what writing them first would
        # read), so the daily reload costs one round trip, not a transaction of marks before it.
        async with self._marks_kept_back() as held, self._use() as db:
            cash, positions, marks, orders = await db.fetch_many(statements)
        newest = {r[0]: (float(r[1]), parse("mark", r[0], datetime.fromisoformat, r[2])) for r in marks}
        newest.update({symbol: (price, datetime.fromisoformat(at)) for symbol, price, at in held.values()})
        return BrokerBook(
            cash=None if not cash else float(cash[0][0]),
            positions=[parse("position", r[0], position_from, r) for r in positions],
            marks=newest,
            open_orders=[parse("order", r[0], order_from_json, r[1]) for r in orders],
        )

    async def record_posture(self, posture: str, reason: str, vix: float | None, at: datetime) -> None:
        async with self._use(transaction=True) as db:
            await self._insert_posture(db, posture, reason, vix, at)

    async def _insert_posture(
        self, db: SqlConnection, posture: str, reason: str, vix: float | None, at: datetime
    ) -> None:
        await self._take_turn(db, "posture_history")
        await db.execute(
            "INSERT INTO posture_history (seq, changed_at, posture, reason, vix) "
            f"VALUES ({_next_seq('posture_history')}, ?, ?, ?, ?)",
            (ts(at), posture, reason, known_vix(vix)),
        )

    async def audit(self, actor: str, action: str, detail: Mapping[str, Any], at: datetime) -> None:
        entries = (AuditEntry(actor, action, detail),)
        async with self._use(transaction=True) as db:
            await self._insert_audit(db, entries, at)

    async def _insert_audit(self, db: SqlConnection, entries: Sequence[AuditEntry], at: datetime) -> None:
        await self._take_turn(db, "audit_log")
        for entry in entries:
            [(seq,)] = await db.fetch_all(
                "INSERT INTO audit_log (seq, recorded_at, actor, action, detail) "
                f"VALUES ({_next_seq('audit_log')}, ?, ?, ?, ?) RETURNING seq",
                (ts(at), entry.actor, entry.action, json_text(entry.detail)),
            )
            await self._link(db, stream_named("state_changes"), (int(seq),))
        db.after_commit(lambda: log_audit(entries))

    async def save_order(self, order: Order) -> Order:
        row = order_row(order)
        # The orders' turn (the chain's head) is held until commit: after a conflict, the next statement sees
        # the committed order that won it.
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "orders")
            inserted = await db.execute(
                "INSERT INTO orders (symbol, side, order_type, quantity, status, created_at, updated_at, "
                "correlation_id, record, order_id, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                row,
            )
            if inserted == 1:
                await self._link(db, stream_named("orders"), (order.order_id,))
                return order
            return await self._order_held(db, order)

    async def _order_held(self, db: SqlConnection, order: Order) -> Order:
        """After `order` met a conflict: the order its event already holds (a redelivery, which must not order
        twice); `StoreConflictError` when its id is another event's order."""
        existing = await db.fetch_one("SELECT record FROM orders WHERE event_id = ?", (order.event_id,))
        if existing is None:
            raise StoreConflictError(f"order id {order.order_id} is already held by another event's order")
        return parse("order", order.event_id, order_from_json, existing[0])

    async def update_order(self, order: Order) -> None:
        async with self._use(transaction=True) as db:
            await self._update_order(db, order)

    async def _update_order(self, db: SqlConnection, order: Order) -> None:
        await self._take_turn(db, "orders")
        changed = await db.execute(
            "UPDATE orders SET symbol = ?, side = ?, order_type = ?, quantity = ?, status = ?, "
            "created_at = ?, updated_at = ?, correlation_id = ?, record = ? WHERE order_id = ? AND event_id = ?",
            order_row(order),
        )
        if changed != 1:
            raise RecordNotFoundError(f"no order {order.order_id} for event {order.event_id}")
        await self._link(db, stream_named("orders"), (order.order_id,))

    async def open_orders(self) -> list[Order]:
        async with self._use() as db:
            rows = await db.fetch_all(self._OPEN_ORDERS + self._byte_order, (OrderStatus.PENDING.value,))
        return [parse("order", r[0], order_from_json, r[1]) for r in rows]

    async def save_fill(self, fill: Fill) -> None:
        async with self._use(transaction=True) as db:
            await self._insert_fill(db, fill)

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
