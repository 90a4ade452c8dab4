"""The account's committed exposure as the risk guard sees it: filled positions, pending orders and the
cash pending buys have reserved, valued at the freshest price known; and, for the ordering bot, its sleeve.

This module owns the one translation from stored records (`AccountBook`) to the guard's `BookView`; the
risk guard node, the execute step's re-check and `aegis status` all use it, so they never disagree on what
the account holds. Pure: no I/O, no clock.

Prices, freshest first: the session's own market snapshot (for its symbol), the marks the broker last saw,
then for a pending buy its limit price, and for a position its average price. A pending market buy of a
symbol with no price at all is valued NaN, which the guard refuses to size against (fail closed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from quant.risk_guard import BookView, Sleeve
from state.bots import Bot
from state.orders import Side
from state.store.base import AccountBook


def book_view(
    account: AccountBook,
    *,
    starting_cash: float,
    day_start_equity: float | None,
    recent_entry_order_types: tuple[str, ...],
    fee_buffer_pct: float,
    prices: Mapping[str, float] | None = None,
    bot: Bot | None = None,
) -> BookView:
    """`account` as the guard's view. `prices` (symbol -> price) override the broker's marks;
    `day_start_equity` None means the day starts now (equity). With `bot`, the view carries its sleeve:
    its allocation, what it committed (its holdings and pending buys at market value) and who holds what."""
    marks = {**account.marks, **(prices or {})}
    cash = starting_cash if account.cash is None else account.cash
    quantities: dict[str, float] = {}
    values: dict[str, float] = {}
    holders: dict[str, str] = {}
    own = 0.0
    for position in account.positions:
        mark = marks.get(position.symbol, position.avg_price)
        quantities[position.symbol] = quantities.get(position.symbol, 0.0) + position.quantity
        values[position.symbol] = values.get(position.symbol, 0.0) + position.quantity * mark
        holders.setdefault(position.symbol, position.bot_id)
        if bot is not None and position.bot_id == bot.bot_id:
            own += position.quantity * mark
    pending_buys: dict[str, float] = {}
    pending_sells: dict[str, float] = {}
    reserved = 0.0
    for order in account.open_orders:
        request = order.request
        if request.side is Side.SELL:
            pending_sells[request.symbol] = pending_sells.get(request.symbol, 0.0) + request.quantity
            continue
        mark = marks.get(request.symbol, request.limit_price if request.limit_price is not None else math.nan)
        cost_price = request.limit_price if request.limit_price is not None else mark
        # Market value at the higher of the two prices: a limit above a falling mark still commits its cost.
        value_price = max(mark, cost_price) if math.isfinite(mark) else mark
        pending_buys[request.symbol] = pending_buys.get(request.symbol, 0.0) + request.quantity * value_price
        holders.setdefault(request.symbol, request.bot_id)
        if bot is not None and request.bot_id == bot.bot_id:
            own += request.quantity * value_price
        reserved += request.quantity * cost_price * (1.0 + fee_buffer_pct / 100.0)
    equity = cash + sum(values.values())
    return BookView(
        equity=equity,
        cash=cash,
        day_start_equity=equity if day_start_equity is None else day_start_equity,
        quantities=quantities,
        values=values,
        recent_entry_order_types=recent_entry_order_types,
        pending_buy_values=pending_buys,
        pending_sell_quantities=pending_sells,
        reserved_cash=reserved,
        sleeve=Sleeve(bot.bot_id, bot.allocation * 100.0, own, holders) if bot is not None else None,
    )
