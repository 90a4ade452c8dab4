"""Stored orders are parsed once per distinct record text: every account read returns every open order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from state.orders import Order, OrderRequest, OrderStatus, OrderType, Side
from state.store.base import CorruptRecordError
from state.store.rows import order_from_json, parse

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def order(status: OrderStatus) -> Order:
    request = OrderRequest(event_id="e1", symbol="AAPL", side=Side.BUY, quantity=3, order_type=OrderType.LIMIT,
                           limit_price=101.0, created_at=T0)  # fmt: skip
    return Order(order_id="ord-e1", request=request, status=status, updated_at=T0)


def test_the_same_stored_text_gives_the_same_order_and_a_changed_one_a_new_order() -> None:
    pending = order(OrderStatus.PENDING).model_dump_json()
    first = order_from_json(pending)
    assert first == order(OrderStatus.PENDING)
    assert order_from_json(str(pending)) is first  # another read of the same record: not validated again
    filled = order_from_json(order(OrderStatus.FILLED).model_dump_json())
    assert filled.status is OrderStatus.FILLED


def test_a_record_that_does_not_parse_fails_on_every_read() -> None:
    broken = order(OrderStatus.PENDING).model_dump_json().replace('"pending"', '"lost"')
    for _ in range(2):
        with pytest.raises(CorruptRecordError, match="order 'e1'"):
            parse("order", "e1", order_from_json, broken)
