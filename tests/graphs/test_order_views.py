"""The views the market-integrity checks read, built from the store's orders and fills."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from graphs.order_views import candidate_view, order_view, order_views
from quant.market_integrity import OrderView
from quant.risk_guard import GuardedOrder
from state.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, OrderType, Side

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def stored(event_id: str, status: OrderStatus = OrderStatus.PENDING, closed_s: float = 0.0) -> Order:
    request = OrderRequest(event_id=event_id, symbol="AAPL", side=Side.SELL, quantity=7, order_type=OrderType.LIMIT,
                           limit_price=101.0, created_at=T0, bot_id="value")  # fmt: skip
    return Order(
        order_id=f"ord-{event_id}", request=request, status=status, updated_at=T0 + timedelta(seconds=closed_s)
    )


def fill(event_id: str, price: float, reason: FillReason) -> Fill:
    return Fill(fill_id=f"fill-{event_id}-{reason.value}", order_id=f"ord-{event_id}", event_id=event_id,
                symbol="AAPL", side=Side.SELL, quantity=7, price=price, fee=0.0, reason=reason, time=T0)  # fmt: skip


def test_a_pending_order_is_open_with_no_close_time() -> None:
    assert order_view(stored("e1")) == OrderView(
        order_id="ord-e1", symbol="AAPL", side="sell", order_type="limit", limit_price=101.0, quantity=7,
        created_at=T0, status="pending", closed_at=None, bot_id="value", fill_price=None,
    )  # fmt: skip


def test_a_closed_order_closes_at_its_last_update_and_only_a_filled_one_keeps_a_fill_price() -> None:
    cancelled = order_view(stored("e1", OrderStatus.CANCELLED, closed_s=12), fill_price=99.0)
    assert (cancelled.status, cancelled.closed_at, cancelled.fill_price) == (
        "cancelled",
        T0 + timedelta(seconds=12),
        None,
    )
    filled = order_view(stored("e2", OrderStatus.FILLED, closed_s=60), fill_price=101.5)
    assert (filled.status, filled.closed_at, filled.fill_price) == ("filled", T0 + timedelta(seconds=60), 101.5)


def test_order_views_take_each_orders_own_fill_not_its_brackets() -> None:
    orders = [
        stored("e1", OrderStatus.FILLED, 60),
        stored("e2", OrderStatus.FILLED, 60),
        stored("e1", OrderStatus.FILLED, 90),
    ]
    fills = [fill("e1", 101.25, FillReason.EXIT), fill("e2", 95.0, FillReason.STOP_LOSS)]
    views = order_views(orders, fills)
    assert [(v.order_id, v.fill_price, v.closed_at) for v in views] == [
        ("ord-e1", 101.25, T0 + timedelta(seconds=90)),  # the last record of an order wins
        ("ord-e2", None, T0 + timedelta(seconds=60)),
    ]


def test_a_guarded_order_is_named_by_its_event_id() -> None:
    guarded = GuardedOrder(symbol="AAPL", side="buy", quantity=3, order_type="market", limit_price=None,
                           stop_loss_price=99.0, take_profit_price=104.0, reference_price=100.0)  # fmt: skip
    view = candidate_view(guarded, "e9", "growth", T0)
    assert (view.order_id, view.side, view.order_type, view.limit_price, view.bot_id) == (
        "e9",
        "buy",
        "market",
        None,
        "growth",
    )
    with pytest.raises(ValueError, match="side must be one of"):
        candidate_view(replace(guarded, side="short"), "e9", "growth", T0)


def test_an_order_read_again_gets_the_view_built_the_first_time() -> None:
    first = order_view(stored("e9"))
    assert order_view(stored("e9")) is first  # an equal order (a new read of the same record): built once
    assert order_view(stored("e9"), fill_price=100.0) == first  # a pending order keeps no fill price anyway
    assert order_view(stored("e9", OrderStatus.FILLED), fill_price=100.0).fill_price == 100.0
