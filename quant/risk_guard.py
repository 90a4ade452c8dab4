"""The deterministic last word before any order: the LLM proposes, the guard disposes.

This module owns the turning of a commander's proposal into an order that respects the posture and the
risk limits, or into a recorded rejection. The guard may clip or reject; it never loosens a proposal, and
it never raises on odd input (NaN, infinities, negative or huge numbers, unknown order types): anything it
cannot make safe is rejected with the reason written down. Every clip is recorded as a ``GuardChange``
naming the rule, so the decision log shows what the LLM asked for and what was sent.

Rules, in the order they are applied:

The account is measured on its *committed* exposure: filled positions plus pending orders (those placed
earlier, also earlier in the same wave) and the cash pending buys have reserved (``BookView``). An order
that passes is measured against everything already committed, so a run of orders can never add up past a
limit that each of them alone respects.

- HOLD produces no order. A non-finite or non-positive price or equity is rejected.
- SELL closes the whole long position not already being sold by a pending sell (short selling is disabled;
  ``size_pct`` is ignored); it is allowed past the daily-loss limit because it reduces risk. A limit must
  be positive and finite, else the sell goes at market; a limit further than ``price_band_pct`` from the
  reference price is rejected (a typo or a bad price), and so is any sell limit when the reference price is
  older than ``max_reference_age_s`` (a market sell on a stale price is allowed: it only reduces). Sells
  carry no stop or target.
- BUY is rejected when the reference price is missing or older than ``max_reference_age_s``; once the day's
  loss reaches ``daily_loss_limit_pct`` of day-start equity; for a new symbol when ``max_open_positions``
  symbols are already held or pending (and for any symbol while the book holds more than that, e.g. after a
  switch to a stricter posture); and when ``size_pct`` is not a positive number. ``size_pct`` is clipped to
  the posture's ``entry_size_pct``; the notional is clipped to the cash left after pending buys'
  reservations and the fee buffer, to what keeps the symbol's filled plus pending value within
  ``max_concentration_pct`` of equity (valued at the market price, the higher of the two prices for a buy
  limit), and to what keeps the gross exposure (every filled and pending holding) within
  ``max_gross_exposure_pct``. A buy limit more than ``price_band_pct`` from the market is rejected; one
  above the market within the band is clipped to the market; a missing or invalid limit, or an unknown
  order type, becomes a limit at the market price; a market order becomes a limit at the market price when
  it would push the share of limit orders among the last ``limit_share_window`` entries below the
  posture's ``limit_order_share_pct``. The quantity is whole units, rounded down; below one unit is
  rejected. Stop and target distances wider than the posture's (or missing) are set to the posture's;
  tighter ones are kept.
- Bots (``BookView.sleeve``): a bot buys only symbols no other bot holds or has pending, and only within
  its sleeve: its committed value (filled and pending, at market value) stays within its allocation of
  equity (``bot.sleeve``); entry size, concentration and gross exposure stay percentages of the whole
  account's equity. A bot sells only its own positions.

Pure: no I/O, no clock; depends only on ``quant.posture``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from quant.posture import PostureParams


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
    max_gross_exposure_pct: float = 100.0  # filled + pending value of every holding, % of equity
    price_band_pct: float = 10.0  # a limit price further than this from the reference price is rejected
    max_reference_age_s: float = 30.0  # a reference price older than this cannot size or check an order

    def __post_init__(self) -> None:
        for name in (
            "daily_loss_limit_pct",
            "max_concentration_pct",
            "max_gross_exposure_pct",
            "price_band_pct",
            "max_reference_age_s",
        ):
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
class Sleeve:
    """The ordering bot's share of the account: its budget for committed exposure and what it committed.

    ``budget_pct`` is the bot's allocation in percent of equity; ``committed`` the market value of its
    filled holdings plus its pending buys; ``holders`` maps each symbol held or pending to the bot that
    holds it (one bot holds a symbol at a time).
    """

    bot_id: str
    budget_pct: float
    committed: float
    holders: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BookView:
    """The account as the guard sees it, in account currency: filled and pending. Long only.

    ``cash`` is the cash balance; ``reserved_cash`` what the pending buys will take of it (fee buffer
    included). ``pending_buy_values`` is the market value of the quantity pending buys will add;
    ``pending_sell_quantities`` the quantity pending sells will take away.
    """

    equity: float
    cash: float
    day_start_equity: float
    quantities: Mapping[str, float]  # symbol -> held (filled) quantity
    values: Mapping[str, float]  # symbol -> market value of the holding
    recent_entry_order_types: tuple[str, ...]  # "market"/"limit" of recent entry orders, oldest first
    pending_buy_values: Mapping[str, float] = field(default_factory=dict)  # symbol -> value pending buys add
    pending_sell_quantities: Mapping[str, float] = field(default_factory=dict)  # symbol -> quantity being sold
    reserved_cash: float = 0.0
    sleeve: Sleeve | None = None  # the ordering bot's budget; None: the whole account is one sleeve

    def committed_value(self, symbol: str) -> float:
        """Filled plus pending value of `symbol` (NaN propagates: the caller fails closed)."""
        return self.values.get(symbol, 0.0) + self.pending_buy_values.get(symbol, 0.0)

    def gross_exposure(self) -> float:
        """Filled plus pending value of every holding."""
        return sum(self.values.values()) + sum(self.pending_buy_values.values())

    def committed_symbols(self) -> set[str]:
        """Symbols held or with a pending buy (a NaN quantity or value counts: fail closed)."""
        held = {s for s, q in self.quantities.items() if not q <= 0}
        return held | {s for s, v in self.pending_buy_values.items() if not v <= 0}


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
    proposal: ProposedOrder,
    *,
    price: float,
    posture: PostureParams,
    limits: RiskLimits,
    book: BookView,
    price_age_s: float,
) -> GuardDecision:
    """Clip or reject ``proposal`` so that the resulting order respects ``posture`` and ``limits`` on the
    account's committed exposure (``book``: filled and pending).

    ``price`` is the symbol's last price in account currency, ``price_age_s`` how old it is (seconds).
    Never raises on bad proposal or book values; they are rejected with a reason instead.
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
    fresh = math.isfinite(price_age_s) and 0 <= price_age_s <= limits.max_reference_age_s
    stale = (
        None
        if fresh
        else f"reference price of {proposal.symbol} is {price_age_s} s old (limit {limits.max_reference_age_s:g} s)"
    )
    if action is Action.SELL:
        return _guard_sell(proposal, price=price, limits=limits, book=book, stale=stale)
    if stale is not None:
        return _reject(f"{stale}: no buy on a stale price")
    return _guard_buy(proposal, price=price, posture=posture, limits=limits, book=book)


def _outside_band(limit: float, price: float, limits: RiskLimits) -> bool:
    return abs(limit - price) * 100.0 > limits.price_band_pct * price


def _guard_sell(
    proposal: ProposedOrder, *, price: float, limits: RiskLimits, book: BookView, stale: str | None
) -> GuardDecision:
    symbol = proposal.symbol
    held = book.quantities.get(symbol, 0.0)
    being_sold = book.pending_sell_quantities.get(symbol, 0.0)
    if not (math.isfinite(held) and math.isfinite(being_sold)):
        return _reject(f"held or pending-sell quantity of {symbol} is not finite ({held}, {being_sold})")
    if held <= 0:
        return _reject("nothing to sell: short selling is disabled")
    holder = book.sleeve.holders.get(symbol) if book.sleeve is not None else None
    if book.sleeve is not None and holder != book.sleeve.bot_id:
        return _reject(f"the {symbol} position belongs to bot {holder}, not to bot {book.sleeve.bot_id}")
    quantity = held - max(being_sold, 0.0)
    if quantity <= 0:
        return _reject(f"a pending sell already closes the {held:g} {symbol} held")
    changes: list[GuardChange] = []
    if being_sold > 0:
        changes.append(GuardChange("quantity", _fmt(held), _fmt(quantity), "pending.sell"))
    limit = proposal.limit_price
    if proposal.order_type == "market" or limit is None or not _positive(limit):
        if proposal.order_type != "market":
            changes.append(
                GuardChange("order_type", f"{proposal.order_type} @ {_fmt(limit)}", "market", "limit_price.invalid")
            )
        order_type, limit_price, reference = "market", None, price
    elif stale is not None:
        return _reject(f"{stale}: a sell limit cannot be checked against the price band", changes)
    elif _outside_band(limit, price, limits):
        return _reject(
            f"sell limit {_fmt(limit)} is more than {limits.price_band_pct:g} % from the price {_fmt(price)}",
            changes,
        )
    else:
        if proposal.order_type != "limit":
            changes.append(GuardChange("order_type", proposal.order_type, "limit", "order_type.invalid"))
        order_type, limit_price, reference = "limit", limit, limit
    for field_name, value in (
        ("stop_loss_pct", proposal.stop_loss_pct),
        ("take_profit_pct", proposal.take_profit_pct),
    ):
        if value is not None:
            changes.append(GuardChange(field_name, _fmt(value), "None", "sell.no_brackets"))
    order = GuardedOrder(
        symbol=symbol,
        side=Action.SELL.value,
        quantity=quantity,
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
    committed = book.committed_symbols()
    if len(committed) > posture.max_open_positions or (
        symbol not in committed and len(committed) >= posture.max_open_positions
    ):
        return _reject(
            f"{len(committed)} symbols held or pending and the posture allows {posture.max_open_positions}: "
            f"no buy of {symbol}"
        )
    if not _positive(proposal.size_pct):
        return _reject(f"size_pct must be a positive finite percent, got {proposal.size_pct}")
    if not (math.isfinite(book.cash) and math.isfinite(book.reserved_cash)):
        return _reject(f"cash and reserved cash must be finite, got {book.cash}, {book.reserved_cash}")
    current_value = book.committed_value(symbol)
    gross = book.gross_exposure()
    if not (math.isfinite(current_value) and math.isfinite(gross)):
        return _reject(f"committed value of {symbol} or of the book is not finite ({current_value}, {gross})")

    sleeve_room = _sleeve_room(book, symbol)
    if isinstance(sleeve_room, GuardDecision):
        return sleeve_room

    changes: list[GuardChange] = []
    size_pct = proposal.size_pct
    if size_pct > posture.entry_size_pct:
        changes.append(GuardChange("size_pct", _fmt(size_pct), _fmt(posture.entry_size_pct), "posture.entry_size"))
        size_pct = posture.entry_size_pct

    typed = _buy_order_type(proposal, price, posture, limits, book, changes)
    if isinstance(typed, GuardDecision):
        return typed
    order_type, limit_price = typed
    reference = limit_price if limit_price is not None else price

    notional = size_pct / 100.0 * book.equity
    cash_room = (book.cash - max(book.reserved_cash, 0.0)) / (1.0 + limits.fee_buffer_pct / 100.0)
    if cash_room <= 0:
        return _reject("no cash available for a buy (pending buys have reserved the rest)", changes)
    if notional > cash_room:
        changes.append(GuardChange("notional", _fmt(notional), _fmt(cash_room), "limits.cash"))
        notional = cash_room
    # Concentration and gross exposure are checked on market value, which for a buy limit is above the
    # cost at the limit.
    concentration_room = limits.max_concentration_pct / 100.0 * book.equity - current_value
    if concentration_room <= 0:
        return _reject(
            f"{symbol} is already at the concentration limit of {limits.max_concentration_pct:g} % of equity "
            "(filled and pending)",
            changes,
        )
    gross_room = limits.max_gross_exposure_pct / 100.0 * book.equity - gross
    if gross_room <= 0:
        return _reject(
            f"gross exposure is already at the limit of {limits.max_gross_exposure_pct:g} % of equity "
            "(filled and pending)",
            changes,
        )
    rooms = {"limits.concentration": concentration_room, "limits.gross_exposure": gross_room}
    if sleeve_room is not None:
        rooms["bot.sleeve"] = sleeve_room
    room_rule = min(rooms, key=lambda rule: rooms[rule])
    value_room = rooms[room_rule]
    value_notional = value_room * reference / price
    if notional > value_notional:
        changes.append(GuardChange("notional", _fmt(notional), _fmt(value_notional), room_rule))
        notional = value_notional

    quantity = min(_whole_units(notional, reference), _whole_units(value_room, price))
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


def _sleeve_room(book: BookView, symbol: str) -> float | GuardDecision | None:
    """What the ordering bot's sleeve leaves for a buy of `symbol` (market value), None without a sleeve,
    or the rejection: another bot holds the symbol, the budget is not finite, or it is spent."""
    sleeve = book.sleeve
    if sleeve is None:
        return None
    holder = sleeve.holders.get(symbol)
    if holder is not None and holder != sleeve.bot_id:
        return _reject(f"{symbol} is held or pending for bot {holder}: one bot holds a symbol at a time")
    if not (math.isfinite(sleeve.budget_pct) and sleeve.budget_pct >= 0 and math.isfinite(sleeve.committed)):
        return _reject(f"bot {sleeve.bot_id}'s sleeve is not measurable ({sleeve.budget_pct} %, {sleeve.committed})")
    budget = sleeve.budget_pct / 100.0 * book.equity
    room = budget - sleeve.committed
    if room <= 0:
        return _reject(
            f"bot {sleeve.bot_id}'s sleeve is spent: {_fmt(sleeve.committed)} committed (filled and pending) of "
            f"its {sleeve.budget_pct:g} % allocation ({_fmt(budget)})"
        )
    return room


def _buy_order_type(
    proposal: ProposedOrder,
    price: float,
    posture: PostureParams,
    limits: RiskLimits,
    book: BookView,
    changes: list[GuardChange],
) -> tuple[str, float | None] | GuardDecision:
    """The buy's order type and limit price (None for market), or a rejection; appends the changes it makes."""
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
    if _outside_band(limit, price, limits):
        return _reject(
            f"buy limit {_fmt(limit)} is more than {limits.price_band_pct:g} % from the price {_fmt(price)}",
            changes,
        )
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
