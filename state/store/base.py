"""The durable store seam: the `DurableStore` protocol and the `StoreError` hierarchy.

This module owns *what* the system may ask of its durable store (SQLite embedded, PostgreSQL in production)
and the errors a store may raise. It holds no SQL and no driver: placeholders and dialects stay inside each
store module, so no caller ever writes SQL.

Decisions that must not be silently changed:
- Idempotency lives in the store's keys, not in callers' care: `record_event`, `save_fill` and
  `book_fill` ignore a repeated id (`check_redelivery` tells a repeated event id with other content apart
  and records it as a conflict), `save_decision` refuses a second decision for an event, and
  `save_order` returns the order already held for an event instead of creating a second one
  (DESIGN invariant 3: exactly one order per event).
- Timestamps handed to a store must be timezone-aware; a store refuses naive ones (`InvalidRecordError`)
  rather than guess their zone.
- Every error a driver raises leaves a store as a `StoreError` subclass, so callers choose retry or
  fail-closed by type, never by parsing messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from state.alerts import Alert, Delivery
from state.api_keys import ApiKey
from state.approvals import Approval, ApprovalStatus
from state.bots import Bot, BotDay
from state.context import RecentDecision
from state.decisions import DecisionRecord
from state.events import Bar, FieldError
from state.orders import Fill, Order, Position
from state.risk_limits import LimitChange
from state.rules import Rule
from state.store.record_chain import ChainedRow, StreamReport
from state.trading import TradingStatus

__all__ = [
    "AccountBook",
    "AuditEntry",
    "BookSnapshot",
    "BrokerBook",
    "ChainRecords",
    "CorruptRecordError",
    "DurableStore",
    "EventConflict",
    "Finished",
    "InvalidRecordError",
    "ListAppend",
    "MigrationError",
    "RecordNotFoundError",
    "RecordedEvent",
    "SessionEnd",
    "StoreClosedError",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(Exception):
    """Base of every error raised by a durable store."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached, opened, locked or written right now; retrying may help."""


class StoreClosedError(StoreUnavailableError):
    """The store was used before `open()` or after `close()`."""


class StoreConflictError(StoreError):
    """A write broke a uniqueness rule in a way the store cannot settle idempotently.

    Example: an order whose `order_id` is already held by an order of a *different* event.
    """


class RecordNotFoundError(StoreError):
    """An update named a record the store does not hold."""


class InvalidRecordError(StoreError):
    """A value the store refuses to write: a naive timestamp, a non-finite amount."""


class CorruptRecordError(StoreError):
    """A stored row no longer parses into its schema (hand-edited, or written by an incompatible version)."""


class MigrationError(StoreError):
    """A migration file is malformed, or applying it failed (the failed migration is rolled back)."""


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """What a session reads from the durable store at its start (`DurableStore.book_snapshot`)."""

    positions: tuple[Position, ...]  # by symbol
    cash: float | None  # None: never saved
    counters: Mapping[str, int]  # the asked counters (0 when never set)
    recent: tuple[RecentDecision, ...]  # newest first
    values: Mapping[str, Any] = field(default_factory=dict)  # the durable copies of the asked hot values held


@dataclass(frozen=True, slots=True)
class AccountBook:
    """The account as it stands, read in one round trip (`DurableStore.account_book`): what the risk guard
    and the execute step measure an order against."""

    positions: tuple[Position, ...]
    cash: float | None  # None: never saved
    open_orders: tuple[Order, ...]  # pending, oldest first
    marks: Mapping[str, float]  # symbol -> last price the broker saw
    trading: tuple[TradingStatus, ...] = ()  # the stored trading states (scopes never set are ACTIVE)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as it arrived (`events`): valid or not, the JSON it came as."""

    event_id: str
    event_type: str
    received_at: datetime
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChainRecords:
    """Every record of one correlation chain (`DurableStore.chain`), each kind in the order it was written."""

    chain_id: str  # the root event's id
    events: tuple[RecordedEvent, ...] = ()
    decisions: tuple[DecisionRecord, ...] = ()
    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True, slots=True)
class EventConflict:
    """An event id delivered again with content other than its first arrival's (`check_redelivery`).
    Hashes: sha256 of the canonical JSON of each content (the form `events.raw` keeps)."""

    event_id: str
    first_hash: str
    new_hash: str
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    action: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ListAppend:
    """Append `item` to the JSON list held under `name` in the durable values (`put_value`), keeping the
    last `keep` items. A missing value, or one that is not a list, counts as an empty list."""

    name: str
    item: str
    keep: int

    def __post_init__(self) -> None:
        if self.keep < 1:
            raise ValueError(f"ListAppend {self.name}: keep must be at least 1, got {self.keep}")


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """What a finished session writes beside its decision, in the same transaction (`finish_session`)."""

    streak_counter: str | None = None  # a counter to count the failed session on (+1), or reset (0) if it did not fail
    failed: bool = False
    # (posture, reason, VIX): recorded in the posture history only if it differs from the last one recorded
    posture: tuple[str, str, float | None] | None = None
    audit: tuple[AuditEntry, ...] = ()
    appends: tuple[ListAppend, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """What `finish_session` did beside saving the decision."""

    streak: int  # the streak counter's new value (0 without one)
    posture_changed: bool  # the posture was recorded: it differed from the last one recorded


@dataclass(frozen=True, slots=True)
class BrokerBook:
    """A broker's durable state as `DurableStore.broker_book` reads it."""

    cash: float | None
    positions: list[Position]
    marks: dict[str, tuple[float, datetime]]
    open_orders: list[Order]


class DurableStore(Protocol):
    """What sessions, the broker and the front door may persist and read back.

    Lists come back oldest first unless the method says "newest first".
    """

    def batch(self) -> AbstractAsyncContextManager[None]:
        """A run of writes (a replay's run of ticks) committed together where the engine gains by it: one
        transaction, one fsync, on SQLite; elsewhere each write commits as it goes. A batch is short: other
        connections wait for its commit to write."""
        ...

    # ---- events -----------------------------------------------------------------------------------
    async def record_event(self, event_id: str, event_type: str, received_at: datetime, raw: Mapping[str, Any]) -> bool:
        """Record an arriving event, valid or not. A repeated `event_id` is ignored (first arrival wins);
        returns False for such a redelivery."""
        ...

    async def record_rejection(
        self, event_id: str | None, raw: Mapping[str, Any], errors: Sequence[FieldError], at: datetime
    ) -> None:
        """The dead-letter record of an invalid event; one per event id (id-less ones always append)."""
        ...

    async def check_redelivery(self, event_id: str, raw: Mapping[str, Any], at: datetime) -> EventConflict | None:
        """Compare a redelivered event with the first arrival recorded under `event_id` (canonical JSON,
        sha256). Other content: the conflict is recorded (once per distinct content) and returned. The same
        content, or no event recorded under the id: None."""
        ...

    async def event_conflicts(self, limit: int = 100) -> list[dict[str, Any]]:
        """The recorded conflicts, newest first: event_id, first_hash, new_hash, raw, detected_at."""
        ...

    # ---- decisions --------------------------------------------------------------------------------
    async def rejected_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The dead letters, newest first: event_id, raw, errors (field, message), rejected_at."""
        ...

    async def save_decision(self, record: DecisionRecord) -> bool:
        """Insert; returns False, changing nothing, when a decision for `record.event_id` already exists."""
        ...

    async def get_decision(self, event_id: str) -> DecisionRecord | None: ...

    async def finish_session(self, record: DecisionRecord, end: SessionEnd, at: datetime) -> Finished | None:
        """`save_decision` and the writes of `end` in one transaction: all of them, or none when the event
        had a decision already (then None)."""
        ...

    async def recent_decisions(self, limit: int) -> list[DecisionRecord]:
        """The last `limit` decisions, newest first."""
        ...

    async def decisions(self) -> list[DecisionRecord]:
        """Every decision, in the order they were saved (what a run's summary counts)."""
        ...

    # ---- correlation chains -----------------------------------------------------------------------
    async def chain_of(self, record_id: str) -> str | None:
        """The chain (its root event's id) of the event, decision, order, fill or alert `record_id`; None when
        the store holds no record under that id. Records written before chains belong to their event's."""
        ...

    async def chain(self, chain_id: str) -> ChainRecords:
        """Every event, decision, order, fill and alert of the chain `chain_id` (empty lists when none)."""
        ...

    # ---- orders and fills -------------------------------------------------------------------------
    async def recent_outcomes(self, limit: int) -> list[RecentDecision]:
        """The newest decisions' event id, symbol, outcome and time (the session context's history)."""
        ...

    async def book_snapshot(self, counters: Sequence[str], recent: int, values: Sequence[str] = ()) -> BookSnapshot:
        """`positions`, `cash`, `get_counter` of each of `counters`, `recent_outcomes(recent)` and the durable
        copies of the hot `values` (`get_values`) on one connection, in one round trip on PostgreSQL."""
        ...

    async def account_book(self) -> AccountBook:
        """Positions, cash, open orders and marks on one connection, in one round trip on PostgreSQL."""
        ...

    async def save_order(self, order: Order) -> Order:
        """Insert; if an order for `order.request.event_id` exists, return that one unchanged."""
        ...

    async def update_order(self, order: Order) -> None:
        """Replace the stored state of an existing order (`RecordNotFoundError` if there is none)."""
        ...

    async def get_order_for_event(self, event_id: str) -> Order | None: ...

    async def open_orders(self) -> list[Order]:
        """Orders still pending, oldest first."""
        ...

    async def orders_since(self, at: datetime) -> list[Order]:
        """Orders placed or last changed (filled, expired, cancelled: `Order.updated_at`) at or after `at`,
        whatever their status, oldest first (by creation, then order id)."""
        ...

    async def save_fill(self, fill: Fill) -> None:
        """Insert; a repeated `fill_id` is ignored."""
        ...

    async def fills(self) -> list[Fill]:
        """Every fill, in the order they were booked."""
        ...

    async def book_fill(
        self, fill: Fill, order: Order | None, positions: Sequence[Position], cash: float, at: datetime
    ) -> bool:
        """Book a fill and its consequences in one transaction: the fill, the order's new state (if any),
        the whole book of positions and the cash balance. Returns False, changing nothing, if `fill.fill_id`
        was booked before, so a replay after a crash can never apply a fill twice."""
        ...

    # ---- the book ---------------------------------------------------------------------------------
    async def replace_positions(self, positions: Sequence[Position]) -> None:
        """Replace the whole current book atomically."""
        ...

    async def positions(self) -> list[Position]: ...

    async def save_cash(self, cash: float, at: datetime) -> None: ...

    async def cash(self) -> float | None:
        """The cash balance last saved, or None if none was ever saved."""
        ...

    async def save_mark(self, symbol: str, price: float, at: datetime) -> None:
        """The last price seen for `symbol` (the close of its newest bar) and that bar's time."""
        ...

    async def marks(self) -> dict[str, tuple[float, datetime]]:
        """symbol -> (last price, time of the bar it came from)."""
        ...

    async def broker_book(self) -> BrokerBook:
        """What a broker restores (`cash`, `positions`, `marks`, `open_orders`), on one connection, in one
        round trip on PostgreSQL (as `account_book`): a feed reloads it every trading day."""
        ...

    # ---- posture, audit, counters -----------------------------------------------------------------
    async def save_bar(self, symbol: str, bar: Bar) -> None:
        """Keep a bar of the market context (insert-or-ignore on symbol and time)."""
        ...

    async def recent_bars(self, symbol: str, limit: int) -> list[Bar]:
        """The newest `limit` bars of `symbol`, oldest first."""
        ...

    async def save_market(self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, Any, datetime]]) -> None:
        """A feed's batch of bars (as `save_bar`) and values (name, value, written at: as `put_value`), with
        the marks held back by `marks_behind`, in one transaction (`state.store.sql_market`)."""
        ...

    def marks_behind(self) -> AbstractAsyncContextManager[None]:
        """While open, `save_mark` holds the newest mark per symbol back until the next batch or statement."""
        ...

    async def put_value(self, name: str, value: Any, at: datetime) -> None:
        """Keep a named hot-context value (JSON) with the time it was written."""
        ...

    async def get_value(self, name: str) -> tuple[Any, datetime] | None:
        """A named hot-context value and when it was written, or None."""
        ...

    async def get_values(self, names: Sequence[str]) -> dict[str, tuple[Any, datetime]]:
        """`get_value` of several names in one statement; names never stored are left out."""
        ...

    async def record_posture(self, posture: str, reason: str, vix: float | None, at: datetime) -> None: ...

    async def posture_history(self) -> list[tuple[datetime, str, str, float | None]]:
        """(at, posture, reason, vix) oldest first."""
        ...

    async def audit(self, actor: str, action: str, detail: Mapping[str, Any], at: datetime) -> None: ...

    async def put_values_audited(self, values: Sequence[tuple[str, Any]], audit: AuditEntry, at: datetime) -> None:
        """`put_value` of each of `values` and the `audit` line that records them, in one transaction."""
        ...

    async def verify_chains(self) -> list[StreamReport]:
        """Every record chain recomputed from the stored rows (`record_chain`), one report per stream."""
        ...

    async def export_chain(self) -> list[ChainedRow]:
        """Every link of every record chain, with the encoded columns of the rows still at their position."""
        ...

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last `limit` entries newest first, each {"seq", "at", "actor", "action", "detail"}."""
        ...

    async def get_counter(self, name: str) -> int:
        """A small named integer; 0 if never set."""
        ...

    async def set_counter(self, name: str, value: int) -> None: ...

    async def add_to_counter(self, name: str, amount: int) -> int:
        """Add `amount` to a counter (0 if never set) in one statement, so concurrent adds all count;
        returns the new value."""
        ...

    # ---- the operator's controls ------------------------------------------------------------------
    def account_lock(self) -> AbstractAsyncContextManager[None]:
        """Held while an order is checked against the book and the trading state and submitted, and while
        the kill switch takes effect: one at a time across every process sharing the store."""
        ...

    async def trading_states(self) -> list[TradingStatus]:
        """Every scope's stored trading state (scopes never set are ACTIVE)."""
        ...

    async def set_trading_state(self, status: TradingStatus, audit: AuditEntry) -> None:
        """Replace `status.scope`'s state and write `audit` in the same transaction."""
        ...

    # ---- bots ---------------------------------------------------------------------------------------
    async def bots(self) -> list[Bot]:
        """The registered bots, in the order they were registered."""
        ...

    async def save_bots(self, bots: Sequence[Bot], audit: AuditEntry, at: datetime) -> None:
        """Insert or replace `bots` and write `audit`, in one transaction. `InvalidRecordError`, writing
        nothing, when the registry's allocations would sum past 100 %."""
        ...

    async def record_bot_days(self, days: Sequence[BotDay], at: datetime) -> None:
        """Keep the bots' day-start marks; a bot's mark of a day already held is ignored (first wins)."""
        ...

    async def bot_days(self, since: date | None = None) -> list[BotDay]:
        """The day-start marks (from `since` on), by day then bot."""
        ...

    # ---- rules --------------------------------------------------------------------------------------
    async def rules(self) -> list[Rule]:
        """The rules as they stand, in evaluation order (priority, higher first; then id)."""
        ...

    async def rule_versions(self, rule_id: str) -> list[Rule]:
        """Every version `rule_id` had, oldest first."""
        ...

    async def save_rule(self, rule: Rule, audit: AuditEntry, at: datetime) -> None:
        """Write `rule` as the next version of the one stored (version 1: a new rule) with `audit`, in one
        transaction; `StoreConflictError`, writing nothing, when it is not the next version."""
        ...

    # ---- approvals ----------------------------------------------------------------------------------
    async def open_approval(self, approval: Approval, audit: AuditEntry) -> Approval:
        """Insert a pending `approval` with `audit`, in one transaction; when its id is held already, the
        approval held, unchanged (nothing written)."""
        ...

    async def get_approval(self, approval_id: str) -> Approval | None: ...

    async def approvals(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[Approval]:
        """Approvals (of one status, or all), newest first."""
        ...

    async def close_approval(self, approval: Approval, audit: AuditEntry) -> None:
        """Write the decision `approval` carries (approved, rejected, expired) with `audit`, in one transaction,
        if the stored one is still pending; else `StoreConflictError` naming how it was decided, writing
        nothing. `RecordNotFoundError` for an unknown id."""
        ...

    async def set_approval_result(self, approval_id: str, result: dict[str, Any]) -> Approval:
        """Keep what running a decided approval did; returns the approval as now stored.
        `RecordNotFoundError` for an unknown id, `StoreConflictError` while it is pending."""
        ...

    # ---- api keys ----------------------------------------------------------------------------------
    async def save_api_key(self, key: ApiKey, audit: AuditEntry) -> None:
        """Insert a new API key's record with `audit`, in one transaction; `StoreConflictError` when its id
        is held already."""
        ...

    async def api_key(self, key_id: str) -> ApiKey | None: ...

    async def api_keys(self) -> list[ApiKey]:
        """Every API key, revoked ones included, oldest first."""
        ...

    async def revoke_api_key(self, key_id: str, by: str, reason: str, at: datetime, audit: AuditEntry) -> ApiKey:
        """Mark a key revoked with `audit`, in one transaction; a key revoked already is returned unchanged.
        `RecordNotFoundError` for an unknown id."""
        ...

    # ---- risk limits -------------------------------------------------------------------------------
    async def risk_limit_changes(self, name: str | None = None) -> list[LimitChange]:
        """The operator's changes of the risk limits (of `name` only, when given), oldest first."""
        ...

    async def save_risk_limit_change(self, change: LimitChange, audit: AuditEntry) -> None:
        """Append `change` with `audit`, in one transaction; `StoreConflictError`, writing nothing, when it
        is not the next version of its limit."""
        ...

    # ---- alerts -------------------------------------------------------------------------------------
    async def save_alert(self, alert: Alert) -> tuple[Alert, bool]:
        """Insert unless an unacknowledged alert with the same dedup key exists; (the alert held, is new)."""
        ...

    async def alerts(
        self, *, unacknowledged_only: bool = False, limit: int = 100, raised_since: datetime | None = None
    ) -> list[Alert]:
        """Alerts, newest first; with `raised_since`, only those raised at or after it."""
        ...

    async def get_alert(self, alert_id: str) -> Alert | None: ...

    async def update_alert(self, alert: Alert) -> None:
        """Replace a stored alert (acknowledgement, escalation step); `RecordNotFoundError` if unknown."""
        ...

    async def record_delivery(self, delivery: Delivery) -> None: ...

    async def deliveries(self, alert_id: str | None = None) -> list[Delivery]:
        """Delivery attempts in the order recorded."""
        ...

    async def close(self) -> None: ...
