"""`orders_since`: the account's recent orders (placed or last changed at or after a moment), on SQLite and on
PostgreSQL, through the fixtures of `test_store_contract` (skipped with the reason without a server, failed
when AEGIS_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from datetime import datetime

from state.orders import Order, OrderStatus, Side
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import Engine, Store, at, order

engine = contract.engine
store = contract.store


def placed(event_id: str, minutes: int, symbol: str = "AAPL", side: Side = Side.BUY) -> Order:
    held = order(event_id)
    request = held.request.model_copy(update={"created_at": at(minutes), "symbol": symbol, "side": side})
    return held.model_copy(update={"request": request, "updated_at": at(minutes)})


def closed(held: Order, status: OrderStatus, minutes: int) -> Order:
    return held.model_copy(update={"status": status, "updated_at": at(minutes)})


async def test_orders_since_holds_orders_placed_or_changed_from_the_moment_on(store: Store) -> None:
    old = placed("old", 0)
    old_cancelled_late = placed("old-cancelled", 1)
    old_filled_early = placed("old-filled", 2)
    fresh = placed("fresh", 10, symbol="MSFT", side=Side.SELL)
    edge = placed("edge", 5)
    for held in (old, old_cancelled_late, old_filled_early, fresh, edge):
        await store.save_order(held)
    await store.update_order(closed(old_cancelled_late, OrderStatus.CANCELLED, 7))
    await store.update_order(closed(old_filled_early, OrderStatus.FILLED, 3))

    recent = await store.orders_since(at(5))
    assert [o.event_id for o in recent] == ["old-cancelled", "edge", "fresh"]  # by creation time
    assert recent[0] == closed(old_cancelled_late, OrderStatus.CANCELLED, 7)
    assert recent[2] == fresh
    assert [o.event_id for o in await store.orders_since(at(11))] == []
    assert len(await store.orders_since(at(0))) == 5


async def test_orders_since_breaks_ties_by_order_id_in_byte_order(store: Store) -> None:
    for event_id in ("b", "B", "a", "_"):
        await store.save_order(placed(event_id, 1))
    assert [o.order_id for o in await store.orders_since(at(1))] == ["ord-B", "ord-_", "ord-a", "ord-b"]


async def test_orders_since_compares_instants_whatever_the_zone_given(store: Store) -> None:
    await store.save_order(placed("e1", 5))
    moment = at(5).astimezone(datetime.fromisoformat("2017-03-01T12:00:00-05:00").tzinfo)
    assert [o.event_id for o in await store.orders_since(moment)] == ["e1"]


async def test_the_recent_orders_read_uses_the_time_indexes(engine: Engine, store: Store) -> None:
    recent = "SELECT record FROM orders WHERE updated_at >= '2017' OR created_at >= '2017'"
    if engine.name == "sqlite":
        plan = await engine.query(f"EXPLAIN QUERY PLAN {recent}")
        text = " ".join(str(row[-1]) for row in plan)
    else:
        # A long history of old orders, so the planner prefers the indexes to reading the table whole.
        await engine.query(
            "INSERT INTO orders (order_id, event_id, symbol, side, order_type, quantity, status, created_at, "
            "updated_at, record) SELECT 'o' || n, 'e' || n, 'AAPL', 'buy', 'limit', 1, 'filled', "
            "'2016-01-01T00:00:00', '2016-01-02T00:00:00', '{}' FROM generate_series(1, 5000) AS n"
        )
        await engine.query("ANALYZE orders")
        text = " ".join(str(row[0]) for row in await engine.query(f"EXPLAIN {recent}"))
    assert "orders_by_update" in text and "orders_by_creation" in text, text
