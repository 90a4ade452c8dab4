"""The plain views of orders that the market-integrity checks read (`quant.market_integrity.OrderView`), built
from the store's records: what the deliberation's RUNE node and the workflow's review pass to
`check_order` and `scan`.

An `Order` keeps no fill price and no close reason: its fill price comes from the order's own fill (an entry or
exit fill whose `order_id` is the order's; a bracket's stop or target is the position's, not the order's),
and the moment it filled or was closed is its `updated_at`. A filled order without its fill given is judged at
its limit, or at the reference price for a market order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from quant.market_integrity import OrderTypeName, OrderView, SideName
from quant.risk_guard import GuardedOrder
from state.orders import Fill, FillReason, Order, OrderStatus

_ORDER_FILLS = (FillReason.ENTRY, FillReason.EXIT)  # an order's own fills (the others are its position's bracket)


_VIEWS_KEPT = 4096  # views kept by their order: RUNE sees every open and recent order again each session


def order_view(order: Order, fill_price: float | None = None) -> OrderView:
    """The view of a stored order; `fill_price` is the price of its own fill, when known (only a filled order's
    is kept). Built once per distinct order and price: both views and orders are frozen, and building one
    checks every field again."""
    return _order_view(order, fill_price)


@functools.lru_cache(maxsize=_VIEWS_KEPT)
def _order_view(order: Order, fill_price: float | None) -> OrderView:
    request = order.request
    closed = order.status is not OrderStatus.PENDING
    return OrderView(
        order_id=order.order_id,
        symbol=request.symbol,
        side=request.side.value,
        order_type=request.order_type.value,
        limit_price=request.limit_price,
        quantity=request.quantity,
        created_at=request.created_at,
        status=order.status.value,
        closed_at=order.updated_at if closed else None,
        bot_id=request.bot_id,
        fill_price=fill_price if order.status is OrderStatus.FILLED else None,
    )


def order_views(orders: Iterable[Order], fills: Sequence[Fill] = ()) -> list[OrderView]:
    """The views of `orders` (each order id once, the last record given wins), each filled one at the price of
    its own fill among `fills` when there is one."""
    prices = {f.order_id: f.price for f in fills if f.reason in _ORDER_FILLS}
    latest = {order.order_id: order for order in orders}
    return [order_view(order, prices.get(order_id)) for order_id, order in latest.items()]


def candidate_view(guarded: GuardedOrder, event_id: str, bot_id: str, at: datetime) -> OrderView:
    """The view of an order the risk guard passed and the broker has not seen: named by its event id (its
    idempotency key; it has no order id yet), placed at `at`."""
    return OrderView(
        order_id=event_id,
        symbol=guarded.symbol,
        side=cast(SideName, guarded.side),  # the view refuses anything but buy / sell
        order_type=cast(OrderTypeName, guarded.order_type),
        limit_price=guarded.limit_price,
        quantity=guarded.quantity,
        created_at=at,
        bot_id=bot_id,
    )
