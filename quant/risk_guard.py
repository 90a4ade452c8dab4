"""The deterministic last word before any order: the LLM proposes, the guard disposes.

This module owns the turning of a commander's proposal into an order that respects the posture and the
risk limits, or into a recorded rejection. The guard may clip or reject; it never loosens a proposal, and
it never raises on odd input (NaN, infinities, negative or huge numbers, unknown order types): anything it
cannot make safe is rejected with the reason written down. Every clip is recorded as a ``GuardChange``
naming the rule, so the decision log shows what the LLM asked for and what was sent.

Rules, in the order they are applied:

- HOLD produces no order. A non-finite or non-positive price or equity is rejected.
- SELL closes the whole long position (short selling is disabled; ``size_pct`` is ignored); it is allowed
  past the daily-loss limit because it reduces risk. A limit must be finite and at least 90 % of the price,
  otherwise the sell goes at market. Sells carry no stop or target.
- BUY is rejected once the day's loss reaches ``daily_loss_limit_pct`` of day-start equity; for a new symbol
  when ``max_open_positions`` symbols are already held (and for any symbol while the book holds more than
  that, e.g. after a switch to a stricter posture); and when ``size_pct`` is not a positive number.
  ``size_pct`` is clipped to the posture's ``entry_size_pct``; the notional is clipped to the cash left
  after the fee buffer and to what keeps the symbol within ``max_concentration_pct`` of equity (valued at
  the market price, the higher of the two prices for a buy limit). A buy limit above the market is clipped to
  the market; a missing or invalid limit, or an unknown order type, becomes a limit at the market price; a
  market order becomes a limit at the market price when it would push the share of limit orders among the
  last ``limit_share_window`` entries below the posture's ``limit_order_share_pct``. The quantity is whole
  units, rounded down; below one unit is rejected. Stop and target distances wider than the posture's (or
  missing) are set to the posture's; tighter ones are kept.

Pure: no I/O, no clock; depends only on ``quant.posture``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from quant.posture import PostureParams

# A sell limit further than this below the market is almost surely a typo; send the sell at market.
_SELL_LIMIT_FLOOR_FRACTION = 0.9


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Account-level limits, all percentages in percent (3.0 = 3 %)."""

    daily_loss_limit_pct: float = 3.0  # no new entries once the day's loss reaches this % of day-start equity
    max_concentration_pct: float = 20.0  # value of one symbol after the order, % of equity
    fee_buffer_pct: float = 0.5  # cash kept aside for fees/slippage when sizing a buy, % of notional
    limit_share_window: int = 20  # how many recent entry orders the limit-order share is measured over

    def __post_init__(self) -> None:
        for name in ("daily_loss_limit_pct", "max_concentration_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite percent, got {value}")
        if not (math.isfinite(self.fee_buffer_pct) and self.fee_buffer_pct >= 0):
            raise ValueError(f"fee_buffer_pct must be a finite percent >= 0, got {self.fee_buffer_pct}")
        if self.limit_share_window < 1:
            raise ValueError(f"limit_share_window must be at least 1, got {self.limit_share_window}")


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """What the commander asked for. Values may be anything (NaN, negative, huge): the guard copes.

    ``size_pct`` is percent of equity; ``stop_loss_pct`` and ``take_profit_pct`` are distances from the
    entry price in percent (1.5 = 1.5 %). ``order_type`` is "market" or "limit"; anything else is treated as
    an invalid limit.
    """

    symbol: str
    action: Action
    size_pct: float
    order_type: str
    limit_price: float | None
    stop_loss_pct: float | None
    take_profit_pct: float | None


@dataclass(frozen=True, slots=True)
class BookView:
    """The account as the guard sees it, in account currency. Long only: held quantities are > 0."""

    equity: float
    cash: float
    day_start_equity: float
    quantities: Mapping[str, float]  # symbol -> held quantity
    values: Mapping[str, float]  # symbol -> market value of the holding
    recent_entry_order_types: tuple[str, ...]  # "market"/"limit" of recent entry orders, oldest first


@dataclass(frozen=True, slots=True)
class GuardChange:
    """One clip the guard applied: which field, from what to what, under which rule."""

    field: str
    before: str
    after: str
    rule: str


@dataclass(frozen=True, slots=True)
class GuardedOrder:
    """An order that passed the guard. Prices in account currency.

    A buy's quantity is whole units (>= 1); a sell's is the held quantity, so it closes the position exactly.
    """

    symbol: str
    side: str  # "buy" | "sell"
    quantity: float
    order_type: str  # "market" | "limit"
    limit_price: float | None
    stop_loss_price: float | None
    take_profit_price: float | None
    reference_price: float  # price used for sizing: the limit price for limits, the last price for market

    @property
    def notional(self) -> float:
        """Quantity times the reference price, in account currency."""
        return self.quantity * self.reference_price


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """The guard's verdict: an order, or the reason there is none, plus every change it made."""

    order: GuardedOrder | None
    changes: tuple[GuardChange, ...]
    rejected_because: str | None

    @property
    def approved(self) -> bool:
        return self.order is not None


def guard_order(
    proposal: ProposedOrder, *, price: float, posture: PostureParams, limits: RiskLimits, book: BookView
) -> GuardDecision:
    """Clip or reject ``proposal`` so that the resulting order respects ``posture`` and ``limits``.

    ``price`` is the symbol's last price in account currency. Never raises on bad proposal or book values;
    they are rejected with a reason instead.
    """
    try:
        action = Action(proposal.action)
    except ValueError:
        return _reject(f"unknown action {proposal.action!r}")
    if action is Action.HOLD:
        return _reject("commander chose hold")
    if not _positive(price):
        return _reject(f"price must be a positive finite number, got {price}")
    if not _positive(book.equity):
        return _reject(f"equity must be a positive finite number, got {book.equity}")
    if action is Action.SELL:
        return _guard_sell(proposal, price=price, book=book)
    return _guard_buy(proposal, price=price, posture=posture, limits=limits, book=book)


def _guard_sell(proposal: ProposedOrder, *, price: float, book: BookView) -> GuardDecision:
    held = book.quantities.get(proposal.symbol, 0.0)
    if not math.isfinite(held):
        return _reject(f"held quantity of {proposal.symbol} is not finite ({held})")
    if held <= 0:
        return _reject("nothing to sell: short selling is disabled")
    changes: list[GuardChange] = []
    limit = proposal.limit_price
    if proposal.order_type == "market":
        order_type, limit_price, reference = "market", None, price
    elif limit is not None and math.isfinite(limit) and limit >= _SELL_LIMIT_FLOOR_FRACTION * price:
        if proposal.order_type != "limit":
            changes.append(GuardChange("order_type", proposal.order_type, "limit", "order_type.invalid"))
        order_type, limit_price, reference = "limit", limit, limit
    else:
        changes.append(GuardChange("order_type", f"{proposal.order_type} @ {_fmt(limit)}", "market", "sell.limit_band"))
        order_type, limit_price, reference = "market", None, price
    for field, value in (
        ("stop_loss_pct", proposal.stop_loss_pct),
        ("take_profit_pct", proposal.take_profit_pct),
    ):
        if value is not None:
            changes.append(GuardChange(field, _fmt(value), "None", "sell.no_brackets"))
    order = GuardedOrder(
        symbol=proposal.symbol,
        side=Action.SELL.value,
        quantity=held,
        order_type=order_type,
        limit_price=limit_price,
        stop_loss_price=None,
        take_profit_price=None,
        reference_price=reference,
    )
    return GuardDecision(order=order, changes=tuple(changes), rejected_because=None)


def _guard_buy(
    proposal: ProposedOrder, *, price: float, posture: PostureParams, limits: RiskLimits, book: BookView
) -> GuardDecision:
    symbol = proposal.symbol
    if not _positive(book.day_start_equity):
        return _reject(f"day-start equity must be a positive finite number, got {book.day_start_equity}")
    loss_pct = (book.day_start_equity - book.equity) / book.day_start_equity * 100.0
    if loss_pct >= limits.daily_loss_limit_pct:
        return _reject(
            f"daily loss {loss_pct:.2f} % has reached the limit of {limits.daily_loss_limit_pct:g} %: "
            "no new entries today"
        )
    held = {s for s, q in book.quantities.items() if not q <= 0}  # a NaN quantity counts as held: fail closed
    if len(held) > posture.max_open_positions or (symbol not in held and len(held) >= posture.max_open_positions):
        return _reject(
            f"{len(held)} symbols held and the posture allows {posture.max_open_positions}: no buy of {symbol}"
        )
    if not _positive(proposal.size_pct):
        return _reject(f"size_pct must be a positive finite percent, got {proposal.size_pct}")
    if not math.isfinite(book.cash):
        return _reject(f"cash must be finite, got {book.cash}")
    current_value = book.values.get(symbol, 0.0)
    if not math.isfinite(current_value):
        return _reject(f"market value of {symbol} is not finite ({current_value})")

    changes: list[GuardChange] = []
    size_pct = proposal.size_pct
    if size_pct > posture.entry_size_pct:
        changes.append(GuardChange("size_pct", _fmt(size_pct), _fmt(posture.entry_size_pct), "posture.entry_size"))
        size_pct = posture.entry_size_pct

    order_type, limit_price = _buy_order_type(proposal, price, posture, limits, book, changes)
    reference = limit_price if limit_price is not None else price

    notional = size_pct / 100.0 * book.equity
    cash_room = book.cash / (1.0 + limits.fee_buffer_pct / 100.0)
    if cash_room <= 0:
        return _reject("no cash available for a buy", changes)
    if notional > cash_room:
        changes.append(GuardChange("notional", _fmt(notional), _fmt(cash_room), "limits.cash"))
        notional = cash_room
    # Concentration is checked on market value, which for a buy limit is above the cost at the limit.
    concentration_room = limits.max_concentration_pct / 100.0 * book.equity - current_value
    if concentration_room <= 0:
        return _reject(
            f"{symbol} is already at the concentration limit of {limits.max_concentration_pct:g} % of equity",
            changes,
        )
    concentration_notional = concentration_room * reference / price
    if notional > concentration_notional:
        changes.append(GuardChange("notional", _fmt(notional), _fmt(concentration_notional), "limits.concentration"))
        notional = concentration_notional

    quantity = min(_whole_units(notional, reference), _whole_units(concentration_room, price))
    if quantity < 1:
        return _reject(f"below one unit: notional {_fmt(notional)} at reference price {_fmt(reference)}", changes)

    stop_loss_price = _bracket_price(
        proposal.stop_loss_pct,
        posture.stop_loss_pct,
        reference,
        -1.0,
        "stop_loss_pct",
        "posture.stop_loss_band",
        changes,
    )
    take_profit_price = _bracket_price(
        proposal.take_profit_pct,
        posture.take_profit_pct,
        reference,
        1.0,
        "take_profit_pct",
        "posture.take_profit_band",
        changes,
    )
    order = GuardedOrder(
        symbol=symbol,
        side=Action.BUY.value,
        quantity=float(quantity),
        order_type=order_type,
        limit_price=limit_price,
        stop_loss_price=stop_loss_price,
        take_profit_price=take_profit_price,
        reference_price=reference,
    )
    return GuardDecision(order=order, changes=tuple(changes), rejected_because=None)


def _buy_order_type(
    proposal: ProposedOrder,
    price: float,
    posture: PostureParams,
    limits: RiskLimits,
    book: BookView,
    changes: list[GuardChange],
) -> tuple[str, float | None]:
    """The buy's order type and limit price (None for market); appends the changes it makes."""
    if proposal.order_type == "market":
        window = (*book.recent_entry_order_types, "market")[-limits.limit_share_window :]
        share_pct = 100.0 * sum(kind == "limit" for kind in window) / len(window)
        if share_pct >= posture.limit_order_share_pct:
            return "market", None
        changes.append(GuardChange("order_type", "market", f"limit @ {_fmt(price)}", "posture.limit_order_share"))
        return "limit", price
    if proposal.order_type != "limit":
        changes.append(GuardChange("order_type", proposal.order_type, "limit", "order_type.invalid"))
    limit = proposal.limit_price
    if limit is None or not _positive(limit):
        changes.append(GuardChange("limit_price", _fmt(limit), _fmt(price), "limit_price.invalid"))
        return "limit", price
    if limit > price:
        changes.append(GuardChange("limit_price", _fmt(limit), _fmt(price), "limit_price.not_above_market"))
        return "limit", price
    return "limit", limit


def _bracket_price(
    proposed_pct: float | None,
    widest_pct: float,
    reference: float,
    side: float,
    field: str,
    rule: str,
    changes: list[GuardChange],
) -> float:
    """A stop (``side`` -1) or target (+1) price ``proposed_pct`` percent away from ``reference``.

    A distance that is missing, not positive, wider than ``widest_pct``, or too small to move the price at
    all (1e-200 %) is replaced by ``widest_pct``.
    """
    if proposed_pct is not None and _positive(proposed_pct) and proposed_pct <= widest_pct:
        price = reference * (1.0 + side * proposed_pct / 100.0)
        if price != reference:
            return price
    changes.append(GuardChange(field, _fmt(proposed_pct), _fmt(widest_pct), rule))
    return reference * (1.0 + side * widest_pct / 100.0)


def _whole_units(budget: float, unit_price: float) -> int:
    """The most whole units whose cost at ``unit_price`` stays within ``budget``."""
    if not budget > 0:
        return 0
    ratio = budget / unit_price
    if not math.isfinite(ratio):
        return 0  # a quantity beyond float range cannot be ordered, let alone settled
    units = math.floor(ratio)
    # The division may round up across an integer; step back until the cost fits. The relative step keeps
    # this short for quantities too large for float to tell n from n - 1.
    while units > 0 and units * unit_price > budget:
        units -= max(1, int(units * 1e-12))
    return units


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _fmt(value: float | None) -> str:
    return "None" if value is None else f"{value:.10g}"


def _reject(reason: str, changes: list[GuardChange] | None = None) -> GuardDecision:
    return GuardDecision(order=None, changes=tuple(changes or ()), rejected_because=reason)
