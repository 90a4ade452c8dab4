"""Row codecs shared by the durable stores: records of `state.orders` and `state.decisions` to column tuples
and back, with the checks every engine applies before it writes.

This module owns the stored form of a value: fixed-width ISO-8601 UTC text for timestamps (text order is
time order), strict JSON text (a non-finite float inside a raw event is kept as its string), finite
floats only, one position per symbol in a book, 64-bit counters. Tuples come out in the column order of
`POSITION_COLUMNS` / `FILL_COLUMNS` or of the statement that names them in each store.

It must never hold a statement, a placeholder or a driver: SQL stays inside each store module, so both
engines share exactly one definition of what a row looks like and cannot drift apart.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from state.context import RecentDecision
from state.decisions import DecisionRecord
from state.orders import Fill, FillReason, Order, Position, Side
from state.store.base import CorruptRecordError, InvalidRecordError

__all__ = [
    "ACCOUNT",
    "FILL_COLUMNS",
    "POSITION_COLUMNS",
    "audit_entry",
    "book_rows",
    "conflict_entry",
    "content_hash",
    "counter_value",
    "decision_row",
    "event_chain",
    "fill_from",
    "fill_row",
    "finite",
    "json_text",
    "known_vix",
    "order_from_json",
    "order_row",
    "parse",
    "position_from",
    "recent_outcome",
    "rejection_entry",
    "ts",
]

_T = TypeVar("_T")
_A = TypeVar("_A")

ACCOUNT = "default"
POSITION_COLUMNS = (
    "symbol, quantity, avg_price, stop_loss_price, take_profit_price, opened_at, opened_by_event, bot_id, "
    "correlation_id"
)
FILL_COLUMNS = (
    "fill_id, order_id, event_id, symbol, side, quantity, price, fee, reason, filled_at, bot_id, correlation_id, "
    "causation_id"
)
_BIGINT = range(-(2**63), 2**63)


# ---- values --------------------------------------------------------------------------------------


def ts(moment: datetime) -> str:
    """The stored form of an aware time; a naive one is refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecordError(f"naive timestamp {moment.isoformat()}: the store needs aware times")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidRecordError(f"{name} must be a finite number, got {value}")
    return float(value)


def known_vix(vix: float | None) -> float | None:
    # SQLite cannot hold NaN (it becomes NULL); an unusable VIX is recorded as unknown on every engine.
    return vix if vix is not None and math.isfinite(vix) else None


def counter_value(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in _BIGINT:
        raise InvalidRecordError(f"counter {name} must be a 64-bit integer, got {value!r}")
    return value


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


def json_text(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True, allow_nan=False, default=str)


def content_hash(text: str) -> str:
    """sha256 of a stored JSON text: `json_text` is canonical (sorted keys, one spelling per value), so equal
    contents hash alike, however their keys were ordered on arrival."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ORDERS_KEPT = 4096  # parsed orders kept by their stored text: a session reads the open ones three times


@functools.lru_cache(maxsize=_ORDERS_KEPT)
def order_from_json(text: str) -> Order:
    """The `Order` a stored record's text holds, parsed once per distinct text.

    Every account read (the risk guard's, RUNE's, the execute step's under the lock) returns every open
    order, so validating each one's JSON again was the worker's largest cost once orders pile up. An
    `Order` is frozen and holds nothing mutable, so one instance may serve every read of the same text; a
    changed order (filled, cancelled) is a new text. A text that does not parse raises every time (errors
    are not cached)."""
    return Order.model_validate_json(text)


def parse(kind: str, key: object, build: Callable[[_A], _T], raw: _A) -> _T:
    """`build(raw)`, or `CorruptRecordError` naming the record when the stored row no longer parses."""
    try:
        return build(raw)
    except (ValueError, TypeError, KeyError) as exc:  # pydantic and json errors are ValueErrors
        raise CorruptRecordError(f"stored {kind} {key!r} does not parse: {exc}") from exc


# ---- records -------------------------------------------------------------------------------------


def decision_row(record: DecisionRecord) -> tuple[Any, ...]:
    """(event_id, event_type, outcome, symbol, decided_at, record, correlation_id)."""
    return (
        record.event_id,
        record.event_type,
        record.outcome.value,
        record.symbol,
        ts(record.decided_at),
        record.model_dump_json(),
        record.chain_id,
    )


def event_chain(event_id: str, raw: Mapping[str, Any]) -> str:
    """The chain an arriving event belongs to: its correlation id when it carries a usable one, else its id."""
    held = raw.get("correlation_id")
    return held if isinstance(held, str) and held else event_id


def recent_outcome(row: Sequence[Any]) -> RecentDecision:
    """From (event_id, symbol, outcome, decided_at)."""
    return RecentDecision(event_id=row[0], symbol=row[1], outcome=row[2], decided_at=datetime.fromisoformat(row[3]))


def rejection_entry(row: Sequence[Any]) -> dict[str, Any]:
    """From (event_id, raw, errors, rejected_at)."""
    return {
        "event_id": row[0],
        "raw": json.loads(row[1]),
        "errors": json.loads(row[2]),
        "rejected_at": datetime.fromisoformat(row[3]),
    }


def conflict_entry(row: Sequence[Any]) -> dict[str, Any]:
    """From (event_id, first_hash, new_hash, raw, detected_at)."""
    return {
        "event_id": row[0],
        "first_hash": row[1],
        "new_hash": row[2],
        "raw": json.loads(row[3]),
        "detected_at": datetime.fromisoformat(row[4]),
    }


def order_row(order: Order) -> tuple[Any, ...]:
    """(symbol, side, order_type, quantity, status, created_at, updated_at, correlation_id, record, order_id,
    event_id)."""
    r = order.request
    return (
        r.symbol,
        r.side.value,
        r.order_type.value,
        r.quantity,
        order.status.value,
        ts(r.created_at),
        ts(order.updated_at),
        r.chain_id,
        order.model_dump_json(),
        order.order_id,
        r.event_id,
    )


def fill_row(fill: Fill) -> tuple[Any, ...]:
    """In the order of `FILL_COLUMNS`."""
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
        ts(fill.time),
        fill.bot_id,
        fill.correlation_id,
        fill.causation_id,
    )


def fill_from(row: Sequence[Any]) -> Fill:
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
        bot_id=row[10],
        correlation_id=row[11],
        causation_id=row[12],
    )


def _position_row(p: Position) -> tuple[Any, ...]:
    return (
        p.symbol,
        p.quantity,
        p.avg_price,
        p.stop_loss_price,
        p.take_profit_price,
        ts(p.opened_at),
        p.opened_by_event,
        p.bot_id,
        p.correlation_id,
    )


def book_rows(positions: Sequence[Position]) -> list[tuple[Any, ...]]:
    """A whole book in the order of `POSITION_COLUMNS`; two positions in one symbol are refused."""
    symbols = [p.symbol for p in positions]
    if len(set(symbols)) != len(symbols):
        raise InvalidRecordError(f"a book holds one position per symbol, got {symbols}")
    return [_position_row(p) for p in positions]


def position_from(row: Sequence[Any]) -> Position:
    return Position(
        symbol=row[0],
        quantity=row[1],
        avg_price=row[2],
        stop_loss_price=row[3],
        take_profit_price=row[4],
        opened_at=datetime.fromisoformat(row[5]),
        opened_by_event=row[6],
        bot_id=row[7],
        correlation_id=row[8],
    )


def audit_entry(row: Sequence[Any]) -> dict[str, Any]:
    """From (seq, recorded_at, actor, action, detail)."""
    return {
        "seq": int(row[0]),
        "at": datetime.fromisoformat(row[1]),
        "actor": row[2],
        "action": row[3],
        "detail": json.loads(row[4]),
    }
