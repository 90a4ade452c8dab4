"""Market integrity: would an order complete a manipulative pattern with the account's recent orders?

This module owns three deterministic patterns, judged on plain views of orders (`OrderView`) against one
reference price per symbol, with thresholds from `IntegrityLimits`:

- **wash trade**: a buy and a sell of one symbol whose prices cross (buy price >= sell price) while both were in
  the market within `wash_window_s` of each other, whatever the bots: one account on both sides of a trade is
  no trade at all. An order's price is its fill price once filled (when known), else its limit, else (a market
  order) the reference price. Only orders that can trade count: pending and filled ones.
- **layering**: the order would be the `layering_min_orders`-th open order on one side of a symbol resting
  more than `away_pct` from the reference price (a buy below it, a sell above it: a marketable order rests
  nowhere), a stack of orders that paints depth the account does not mean to trade.
- **spoofing**: the order is on the opposite side of at least `spoofing_min_orders` orders of its symbol that
  rested more than `away_pct` from the reference price and were cancelled within `cancel_within_s` of being
  placed, cancelled inside the last `lookback_s`: orders shown to move the market, then a trade against the
  move. The reference is today's price (the price at the time they rested is not in the views).

Decisions that must not be silently changed:
- An order that only reduces exposure (a stop, a target, a close, any order while trading is REDUCING) is never
  found to complete a pattern: `check_order(..., reduces=True)` returns no finding, and `scan` never names
  a reduction as the order that completed one. Blocking a reduction would keep risk on to prevent an
  appearance.
- A finding names only orders of the candidate's symbol, and always the candidate itself.
- Window edges are inclusive (an order exactly `wash_window_s` away pairs; a cancel exactly `cancel_within_s`
  after placing counts), price distances strict ("more than `away_pct`": exactly 1 % away is at the market).

Pure: no I/O, no clock (every time comes from the views), imports nothing from the rest of the project.
Times are timezone-aware datetimes; windows are seconds; percentages are percent (1.0 = 1 %).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

Pattern = Literal["wash_trade", "layering", "spoofing"]
SideName = Literal["buy", "sell"]
OrderTypeName = Literal["market", "limit"]
StatusName = Literal["pending", "filled", "expired", "cancelled"]

CHECK_VERSION = "market-integrity-1"  # names this set of rules in the records of what it decided

_TRADES: frozenset[str] = frozenset({"pending", "filled"})  # statuses of orders that can trade or have traded


@dataclass(frozen=True, slots=True)
class OrderView:
    """One order as the checks see it. Prices in the instrument's currency, quantity in units.

    `closed_at` is when a filled order filled or a cancelled/expired one was closed (None while pending, or
    when unknown); `fill_price` the price it filled at (None unless filled and known).
    """

    order_id: str
    symbol: str
    side: SideName
    order_type: OrderTypeName
    limit_price: float | None
    quantity: float
    created_at: datetime
    status: StatusName = "pending"
    closed_at: datetime | None = None
    bot_id: str = "default"
    fill_price: float | None = None

    def __post_init__(self) -> None:
        if not self.order_id or not self.symbol:
            raise ValueError(f"order view needs an order id and a symbol, got {self.order_id!r} / {self.symbol!r}")
        for name, value, allowed in (
            ("side", self.side, SideName),
            ("order_type", self.order_type, OrderTypeName),
            ("status", self.status, StatusName),
        ):
            if value not in get_args(allowed):
                raise ValueError(f"order {self.order_id}: {name} must be one of {get_args(allowed)}, got {value!r}")
        if self.order_type == "limit" and not _positive(self.limit_price):
            raise ValueError(f"order {self.order_id}: a limit order needs a positive limit, got {self.limit_price}")
        if self.order_type == "market" and self.limit_price is not None:
            raise ValueError(f"order {self.order_id}: a market order carries no limit price, got {self.limit_price}")
        if not _positive(self.quantity):
            raise ValueError(f"order {self.order_id}: quantity must be positive and finite, got {self.quantity}")
        if self.fill_price is not None and not _positive(self.fill_price):
            raise ValueError(f"order {self.order_id}: fill price must be positive and finite, got {self.fill_price}")
        for name, moment in (("created_at", self.created_at), ("closed_at", self.closed_at)):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"order {self.order_id}: {name} must be timezone-aware, got {moment.isoformat()}")


@dataclass(frozen=True, slots=True)
class IntegrityLimits:
    """The patterns' thresholds: windows in seconds, `away_pct` in percent of the reference price."""

    wash_window_s: float = 300.0  # a buy and a sell in the market this close in time, crossing: a wash trade
    layering_min_orders: int = 3  # the N-th open order away from the market on one side is layering
    away_pct: float = 1.0  # an order resting more than this from the reference price is away from the market
    spoofing_min_orders: int = 3  # this many quick cancels away from the market, then the other side: spoofing
    cancel_within_s: float = 60.0  # cancelled this soon after being placed: an order never meant to trade
    lookback_s: float = 3_600.0  # how far back quick cancels count towards spoofing

    def __post_init__(self) -> None:
        for name in ("wash_window_s", "away_pct", "cancel_within_s", "lookback_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")
        for name in ("layering_min_orders", "spoofing_min_orders"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(f"{name} must be a whole number of at least 2, got {value}")


@dataclass(frozen=True, slots=True)
class Finding:
    """A pattern the candidate order would complete: the orders involved (the candidate last) and why."""

    pattern: Pattern
    order_ids: tuple[str, ...]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "order_ids": list(self.order_ids), "reason": self.reason}


def check_order(
    candidate: OrderView,
    recent: Sequence[OrderView],
    reference_price: float,
    limits: IntegrityLimits,
    reduces: bool,
) -> list[Finding]:
    """The patterns `candidate` would complete with the `recent` orders of the account (any symbols; the
    candidate's own id among them is ignored), judged at the candidate's `created_at` against
    `reference_price`, the current price of its symbol. None when `reduces` (it only reduces exposure)."""
    if not _positive(reference_price):
        raise ValueError(f"reference price of {candidate.symbol} must be positive and finite, got {reference_price}")
    if reduces:
        return []
    same = [o for o in recent if o.symbol == candidate.symbol and o.order_id != candidate.order_id]
    found = (
        _wash_trade(candidate, same, reference_price, limits),
        _layering(candidate, same, reference_price, limits),
        _spoofing(candidate, same, reference_price, limits),
    )
    return [finding for finding in found if finding is not None]


def scan(
    orders: Iterable[OrderView],
    reference_prices: Mapping[str, float],
    limits: IntegrityLimits,
    reductions: Collection[str] = (),
) -> list[Finding]:
    """The patterns found in a set of orders: each order, in the order they were placed (then by id), checked
    against the orders of its symbol placed before it, as `check_order` would have when it was placed, but
    with their final status. `reference_prices` gives each symbol's price (every symbol must have one);
    `reductions` holds the ids of orders that only reduced exposure (never named as completing a pattern).
    A pattern reached by the same orders is reported once."""
    by_symbol: dict[str, list[OrderView]] = {}
    for order in sorted(orders, key=lambda o: (o.created_at, o.order_id)):
        by_symbol.setdefault(order.symbol, []).append(order)
    missing = sorted(symbol for symbol in by_symbol if symbol not in reference_prices)
    if missing:
        raise ValueError(f"no reference price for {', '.join(missing)}")
    findings: list[Finding] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    for symbol, placed in by_symbol.items():
        for index, candidate in enumerate(placed):
            reduces = candidate.order_id in reductions
            for finding in check_order(candidate, placed[:index], reference_prices[symbol], limits, reduces):
                key = (finding.pattern, frozenset(finding.order_ids))
                if key not in seen:
                    seen.add(key)
                    findings.append(finding)
    return findings


# ---- the patterns ---------------------------------------------------------------------------------------


def _wash_trade(
    candidate: OrderView, same: Sequence[OrderView], reference: float, limits: IntegrityLimits
) -> Finding | None:
    if candidate.status not in _TRADES:
        return None
    at = candidate.created_at
    crossing: list[tuple[float, OrderView, float, float]] = []  # (seconds apart, order, buy price, sell price)
    for other in same:
        if other.side == candidate.side or other.status not in _TRADES:
            continue
        apart = _seconds_outside(at, other)
        if apart > limits.wash_window_s:
            continue
        buy, sell = (candidate, other) if candidate.side == "buy" else (other, candidate)
        buy_price, sell_price = _trade_price(buy, reference), _trade_price(sell, reference)
        if buy_price >= sell_price:
            crossing.append((apart, other, buy_price, sell_price))
    if not crossing:
        return None
    crossing.sort(key=lambda c: (c[0], c[1].created_at, c[1].order_id))
    apart, nearest, buy_price, sell_price = crossing[0]
    others = f" (and {len(crossing) - 1} more)" if len(crossing) > 1 else ""
    reason = (
        f"{candidate.side} {candidate.symbol} at {_price(candidate, reference)} would cross {nearest.status} "
        f"{nearest.side} {nearest.order_id} at {_price(nearest, reference)}{others}: buy {buy_price:g} >= sell "
        f"{sell_price:g}, {apart:g} s apart (window {limits.wash_window_s:g} s), one account on both sides"
    )
    return Finding("wash_trade", (*(c[1].order_id for c in crossing), candidate.order_id), reason)


def _layering(
    candidate: OrderView, same: Sequence[OrderView], reference: float, limits: IntegrityLimits
) -> Finding | None:
    if not _away(candidate, reference, limits):
        return None
    at = candidate.created_at
    stack = [o for o in same if o.side == candidate.side and _open_at(o, at) and _away(o, reference, limits)]
    if len(stack) + 1 < limits.layering_min_orders:
        return None
    limits_text = ", ".join(f"{o.limit_price:g}" for o in (*stack, candidate))
    reason = (
        f"{candidate.side} {candidate.symbol} at {candidate.limit_price:g} would be open {candidate.side} order "
        f"no. {len(stack) + 1} resting more than {limits.away_pct:g}% from the reference {reference:g} "
        f"(layering from {limits.layering_min_orders} such orders; their limits {limits_text})"
    )
    return Finding("layering", (*(o.order_id for o in stack), candidate.order_id), reason)


def _spoofing(
    candidate: OrderView, same: Sequence[OrderView], reference: float, limits: IntegrityLimits
) -> Finding | None:
    at = candidate.created_at
    spoofs = [o for o in same if o.side != candidate.side and _quick_cancel(o, at, reference, limits)]
    if len(spoofs) < limits.spoofing_min_orders:
        return None
    other_side = spoofs[0].side
    reason = (
        f"{candidate.side} {candidate.symbol} would trade against {len(spoofs)} {other_side} orders resting more "
        f"than {limits.away_pct:g}% from the reference {reference:g} and cancelled within "
        f"{limits.cancel_within_s:g} s of being placed in the last {limits.lookback_s:g} s "
        f"(spoofing from {limits.spoofing_min_orders})"
    )
    return Finding("spoofing", (*(o.order_id for o in spoofs), candidate.order_id), reason)


# ---- what the patterns measure --------------------------------------------------------------------------


def _positive(value: float | None) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _trade_price(order: OrderView, reference: float) -> float:
    """The price an order traded, or would trade, at: its fill, else its limit, else the market."""
    if order.status == "filled" and order.fill_price is not None:
        return order.fill_price
    return order.limit_price if order.limit_price is not None else reference


def _price(order: OrderView, reference: float) -> str:
    if order.status == "filled" and order.fill_price is not None:
        return f"{order.fill_price:g} (filled)"
    return f"{order.limit_price:g}" if order.limit_price is not None else f"market ({reference:g})"


def _seconds_outside(at: datetime, order: OrderView) -> float:
    """How far `at` lies outside the span the order was in the market (0 inside it). A pending order is in
    the market from its creation on; a filled one until it filled (its creation alone when that is unknown)."""
    start = order.created_at
    end = None if order.status == "pending" else (order.closed_at or start)
    if at < start:
        return (start - at).total_seconds()
    if end is not None and at > end:
        return (at - end).total_seconds()
    return 0.0


def _open_at(order: OrderView, at: datetime) -> bool:
    """Resting in the market at `at`: placed by then, and still pending or closed after it."""
    if order.created_at > at:
        return False
    if order.status == "pending":
        return True
    return order.closed_at is not None and order.closed_at > at


def _away(order: OrderView, reference: float, limits: IntegrityLimits) -> bool:
    """A limit resting more than `away_pct` from the reference on its own side of the market."""
    if order.limit_price is None:
        return False
    gap = reference - order.limit_price if order.side == "buy" else order.limit_price - reference
    return gap / reference * 100.0 > limits.away_pct


def _quick_cancel(order: OrderView, at: datetime, reference: float, limits: IntegrityLimits) -> bool:
    """Cancelled within `cancel_within_s` of being placed, away from the market, inside the look-back."""
    if order.status != "cancelled" or order.closed_at is None or order.closed_at > at:
        return False
    rested = (order.closed_at - order.created_at).total_seconds()
    since = (at - order.closed_at).total_seconds()
    return 0.0 <= rested <= limits.cancel_within_s and since <= limits.lookback_s and _away(order, reference, limits)
