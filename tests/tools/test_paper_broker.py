"""The paper broker: next-bar fills, costs, expiry, brackets, idempotency and restarts.

Costs throughout: fee 1 bp of notional, slippage 5 bp of price (market and stop fills only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from state.events import Bar
from state.orders import FillReason, OrderRequest, OrderStatus, OrderType, Side
from state.store.sqlite import SqliteStore
from tools.broker.base import Broker, BrokerNotReadyError, InvalidOrderError
from tools.broker.paper import CostModel, PaperBroker

COSTS = CostModel(fee_bps=1.0, slippage_bps=5.0)
DAY0 = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)  # bar times are closes: 16:00 New York


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def bar(n: int, open_: float, high: float, low: float, close: float) -> Bar:
    return Bar(time=day(n), open=open_, high=high, low=low, close=close, volume=1_000_000.0)


FLAT = {n: bar(n, 100.0, 101.0, 99.0, 100.0) for n in range(10)}


def order(
    event_id: str = "e1",
    *,
    side: Side = Side.BUY,
    quantity: float = 100.0,
    limit: float | None = None,
    stop: float | None = None,
    target: float | None = None,
    created: datetime = DAY0,
    symbol: str = "AAPL",
) -> OrderRequest:
    return OrderRequest(
        event_id=event_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=limit,
        stop_loss_price=stop,
        take_profit_price=target,
        created_at=created,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "paper.db") as opened:
        yield opened


@pytest.fixture
async def broker(store: SqliteStore) -> PaperBroker:
    loaded = PaperBroker(store, COSTS, starting_cash=100_000.0)
    await loaded.load()
    return loaded


async def restarted(store: SqliteStore) -> PaperBroker:
    fresh = PaperBroker(store, COSTS, starting_cash=100_000.0)
    await fresh.load()
    return fresh


async def holding(broker: PaperBroker, *, stop: float | None = None, target: float | None = None) -> None:
    """100 AAPL bought at day 1's open of 100 (100.05 with slippage), bracket armed from day 2."""
    await broker.submit(order("entry", stop=stop, target=target))
    await broker.on_bar("AAPL", FLAT[0])
    [entry] = await broker.on_bar("AAPL", FLAT[1])
    assert entry.price == pytest.approx(100.05)


def test_the_paper_broker_satisfies_the_broker_protocol(store: SqliteStore) -> None:
    seam: Broker = PaperBroker(store, COSTS)
    assert seam is not None


# ---- market orders, timing ----------------------------------------------------------------------


async def test_a_market_buy_fills_at_the_next_open_with_slippage_and_fee(broker: PaperBroker) -> None:
    await broker.submit(order(quantity=100.0, created=day(0)))
    assert await broker.on_bar("AAPL", bar(0, 48.0, 49.0, 47.0, 48.5)) == []  # its own bar: never
    [fill] = await broker.on_bar("AAPL", bar(1, 50.0, 51.0, 49.0, 50.5))
    assert fill.price == pytest.approx(50.025)  # 50 * (1 + 5 bp)
    assert fill.fee == pytest.approx(0.50025)  # 1 bp of 5002.50
    assert (fill.reason, fill.time, fill.fill_id) == (FillReason.ENTRY, day(1), "fill-e1-entry")
    assert broker.cash() == pytest.approx(100_000.0 - 5_002.5 - 0.50025)
    assert broker.positions()["AAPL"].avg_price == pytest.approx(50.025)
    assert broker.marks() == {"AAPL": 50.5}
    assert broker.equity() == pytest.approx(broker.cash() + 100 * 50.5)


async def test_an_order_placed_during_a_bar_cannot_fill_at_that_bar_open(broker: PaperBroker) -> None:
    await broker.on_bar("AAPL", FLAT[0])
    await broker.submit(order(created=day(0) + timedelta(hours=17)))  # 14:00 New York on day 1
    assert await broker.on_bar("AAPL", FLAT[1]) == []
    [fill] = await broker.on_bar("AAPL", bar(2, 105.0, 106.0, 104.0, 105.0))
    assert fill.price == pytest.approx(105.0 * 1.0005)


async def test_a_sell_exits_at_the_open_minus_slippage(broker: PaperBroker) -> None:
    await holding(broker)
    await broker.submit(order("exit", side=Side.SELL, quantity=100.0, created=day(1)))
    [fill] = await broker.on_bar("AAPL", bar(2, 110.0, 111.0, 109.0, 110.0))
    assert fill.reason is FillReason.EXIT
    assert fill.price == pytest.approx(109.945)
    assert broker.positions() == {}
    proceeds = 100 * 109.945 * (1 - 0.0001)
    assert broker.cash() == pytest.approx(100_000.0 - 100 * 100.05 * 1.0001 + proceeds)


# ---- idempotency --------------------------------------------------------------------------------


async def test_the_same_event_twice_gives_one_order_one_fill_and_one_debit(
    broker: PaperBroker, store: SqliteStore
) -> None:
    first = await broker.submit(order("e1"))
    second = await broker.submit(order("e1", quantity=999.0))
    assert second == first
    await broker.on_bar("AAPL", FLAT[1])
    assert len(await store.fills()) == 1
    assert broker.cash() == pytest.approx(100_000.0 - 100 * 100.05 * 1.0001)
    assert await broker.submit(order("e1")) == await store.get_order_for_event("e1")


async def test_a_resubmission_after_a_restart_does_not_trade_again(broker: PaperBroker, store: SqliteStore) -> None:
    await broker.submit(order("e1"))
    await broker.on_bar("AAPL", FLAT[1])
    cash = broker.cash()
    again = await restarted(store)
    replayed = await again.submit(order("e1"))
    assert replayed.status is OrderStatus.FILLED
    assert await again.on_bar("AAPL", FLAT[2]) == []
    assert again.cash() == cash
    assert len(await store.fills()) == 1


async def test_a_pending_order_survives_a_restart_and_fills_once(broker: PaperBroker, store: SqliteStore) -> None:
    await broker.submit(order("e1"))
    again = await restarted(store)
    assert [o.event_id for o in again.open_orders()] == ["e1"]
    [fill] = await again.on_bar("AAPL", FLAT[1])
    assert fill.fill_id == "fill-e1-entry"
    assert (await store.get_order_for_event("e1")).status is OrderStatus.FILLED  # type: ignore[union-attr]


async def test_a_broker_behind_its_store_never_books_a_fill_twice(broker: PaperBroker, store: SqliteStore) -> None:
    await broker.submit(order("e1"))
    stale = await restarted(store)  # loaded while e1 was still pending
    await broker.on_bar("AAPL", FLAT[1])
    assert await stale.on_bar("AAPL", FLAT[1]) == []
    assert stale.cash() == pytest.approx(broker.cash())
    assert len(await store.fills()) == 1


async def test_a_redelivered_bar_changes_nothing(broker: PaperBroker) -> None:
    await broker.submit(order("e1"))
    assert len(await broker.on_bar("AAPL", FLAT[1])) == 1
    cash = broker.cash()
    assert await broker.on_bar("AAPL", FLAT[1]) == []
    assert await broker.on_bar("AAPL", FLAT[0]) == []
    assert broker.cash() == cash


# ---- limit orders -------------------------------------------------------------------------------


async def test_a_limit_buy_not_reached_expires_after_its_first_bar(broker: PaperBroker, store: SqliteStore) -> None:
    await broker.submit(order("e1", limit=95.0))
    assert await broker.on_bar("AAPL", FLAT[1]) == []  # low 99 > 95
    assert (await store.get_order_for_event("e1")).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert await broker.on_bar("AAPL", bar(2, 94.0, 95.0, 90.0, 92.0)) == []
    assert broker.cash() == 100_000.0
    [entry] = await store.audit_log(1)
    assert (entry["action"], entry["detail"]["event_id"]) == ("order_expired", "e1")
    assert "not reached" in entry["detail"]["reason"]


@pytest.mark.parametrize(
    ("open_", "low", "expected"),
    [(100.0, 98.0, 99.0), (97.0, 96.0, 97.0)],
    ids=["reached_intraday_fills_at_limit", "gap_below_limit_fills_at_open"],
)
async def test_a_touched_limit_buy_fills_at_the_better_of_open_and_limit(
    broker: PaperBroker, open_: float, low: float, expected: float
) -> None:
    await broker.submit(order("e1", quantity=10.0, limit=99.0))
    [fill] = await broker.on_bar("AAPL", bar(1, open_, 101.0, low, 100.0))
    assert fill.price == expected  # no slippage on limits
    assert fill.fee == pytest.approx(10 * expected * 0.0001)


async def test_a_touched_limit_sell_fills_at_the_better_of_open_and_limit(broker: PaperBroker) -> None:
    await holding(broker)
    await broker.submit(order("tp", side=Side.SELL, limit=104.0, created=day(1)))
    [fill] = await broker.on_bar("AAPL", bar(2, 106.0, 107.0, 105.0, 106.0))  # gap above the limit
    assert fill.price == 106.0


# ---- brackets -----------------------------------------------------------------------------------


async def test_a_stop_hit_exits_at_the_stop_minus_slippage(broker: PaperBroker) -> None:
    await holding(broker, stop=95.0, target=110.0)
    [fill] = await broker.on_bar("AAPL", bar(2, 99.0, 100.0, 94.0, 96.0))
    assert fill.reason is FillReason.STOP_LOSS
    assert fill.price == pytest.approx(95.0 * 0.9995)
    assert (fill.fill_id, fill.order_id, fill.quantity) == ("fill-entry-stop_loss", "ord-entry", 100.0)
    assert broker.positions() == {}


async def test_a_gap_through_the_stop_exits_at_the_open(broker: PaperBroker) -> None:
    await holding(broker, stop=95.0)
    [fill] = await broker.on_bar("AAPL", bar(2, 90.0, 91.0, 88.0, 89.0))
    assert fill.price == pytest.approx(90.0 * 0.9995)


async def test_a_target_hit_exits_at_the_target(broker: PaperBroker) -> None:
    await holding(broker, stop=95.0, target=110.0)
    [fill] = await broker.on_bar("AAPL", bar(2, 105.0, 112.0, 104.0, 111.0))
    assert (fill.reason, fill.price) == (FillReason.TAKE_PROFIT, 110.0)
    assert broker.cash() == pytest.approx(100_000.0 - 100 * 100.05 * 1.0001 + 100 * 110.0 * 0.9999)


async def test_a_bar_touching_stop_and_target_is_taken_as_the_stop(broker: PaperBroker) -> None:
    await holding(broker, stop=95.0, target=110.0)
    [fill] = await broker.on_bar("AAPL", bar(2, 100.0, 115.0, 90.0, 100.0))
    assert fill.reason is FillReason.STOP_LOSS


async def test_the_bracket_is_armed_from_the_bar_after_the_entry(broker: PaperBroker) -> None:
    await broker.submit(order("e1", stop=95.0))
    [entry] = await broker.on_bar("AAPL", bar(1, 100.0, 101.0, 90.0, 99.0))  # low under the stop
    assert entry.reason is FillReason.ENTRY
    assert "AAPL" in broker.positions()


# ---- cash and the book --------------------------------------------------------------------------


async def test_a_buy_the_cash_cannot_cover_is_cancelled_with_its_reason(
    broker: PaperBroker, store: SqliteStore
) -> None:
    await broker.submit(order("big", quantity=999.0))  # about 99,950 + fee at 100.05; cash is 100,000
    await broker.submit(order("huge", quantity=1_000.0))
    fills = await broker.on_bar("AAPL", FLAT[1])
    assert [f.event_id for f in fills] == ["big"]
    assert (await store.get_order_for_event("huge")).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    [entry] = await store.audit_log(1)
    assert entry["action"] == "order_cancelled"
    assert "insufficient cash" in entry["detail"]["reason"]
    assert broker.cash() >= 0


async def test_buying_more_of_a_held_symbol_averages_the_price(broker: PaperBroker) -> None:
    await holding(broker, stop=95.0)
    await broker.submit(order("more", quantity=100.0, target=120.0, created=day(1)))
    await broker.on_bar("AAPL", bar(2, 110.0, 111.0, 109.0, 110.0))
    held = broker.positions()["AAPL"]
    assert held.quantity == 200.0
    assert held.avg_price == pytest.approx((100.05 + 110.055) / 2)
    assert (held.stop_loss_price, held.take_profit_price, held.opened_by_event) == (95.0, 120.0, "entry")


async def test_a_sell_is_clipped_to_the_held_quantity_and_refused_when_flat(
    broker: PaperBroker, store: SqliteStore
) -> None:
    await broker.submit(order("nothing", side=Side.SELL))
    assert await broker.on_bar("AAPL", FLAT[1]) == []
    assert (await store.get_order_for_event("nothing")).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    await broker.submit(order("entry", quantity=10.0, created=day(1)))
    await broker.on_bar("AAPL", FLAT[2])
    await broker.submit(order("exit", side=Side.SELL, quantity=50.0, created=day(2)))
    [fill] = await broker.on_bar("AAPL", FLAT[3])
    assert fill.quantity == 10.0
    assert broker.positions() == {}


async def test_a_restart_restores_the_same_book_and_equity(broker: PaperBroker, store: SqliteStore) -> None:
    await broker.submit(order("a", quantity=50.0, stop=90.0, target=120.0))
    await broker.submit(order("m", quantity=20.0, symbol="MSFT"))
    await broker.submit(order("late", quantity=5.0, limit=80.0, created=day(1)))
    await broker.on_bar("AAPL", FLAT[1])
    await broker.on_bar("MSFT", bar(1, 60.0, 61.0, 59.0, 60.5))
    await broker.on_bar("AAPL", bar(2, 101.0, 104.0, 100.0, 103.0))  # the limit expires here
    again = await restarted(store)
    assert again.cash() == broker.cash()
    assert again.positions() == broker.positions()
    assert again.marks() == broker.marks() == {"AAPL": 103.0, "MSFT": 60.5}
    assert again.equity() == pytest.approx(broker.equity())
    assert again.open_orders() == broker.open_orders() == []


# ---- refusals -----------------------------------------------------------------------------------


async def test_the_broker_refuses_to_act_before_load(store: SqliteStore) -> None:
    cold = PaperBroker(store, COSTS)
    with pytest.raises(BrokerNotReadyError):
        await cold.submit(order())
    with pytest.raises(BrokerNotReadyError):
        await cold.on_bar("AAPL", FLAT[1])


async def test_a_limit_order_needs_a_limit_price(broker: PaperBroker) -> None:
    request = order().model_copy(update={"order_type": OrderType.LIMIT})
    with pytest.raises(InvalidOrderError):
        await broker.submit(request)


def test_costs_must_be_finite_and_non_negative() -> None:
    with pytest.raises(ValueError, match="fee_bps"):
        CostModel(fee_bps=-1.0)
    with pytest.raises(ValueError, match="slippage_bps"):
        CostModel(slippage_bps=float("nan"))
