"""Specification of the risk guard: the LLM proposes, the guard disposes (clip or reject, never loosen)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quant.posture import DEFAULT_POSTURES, Posture, PostureParams
from quant.risk_guard import (
    Action,
    BookView,
    GuardDecision,
    ProposedOrder,
    RiskLimits,
    guard_order,
)

OFFENSIVE = DEFAULT_POSTURES[Posture.OFFENSIVE]  # entry 2.5 %, stop 1.5 %, target 3 %, 5 positions, 70 % limits
LIMITS = RiskLimits()
PRICE = 100.0
T = TypeVar("T")


def book(
    *,
    equity: float = 100_000.0,
    cash: float | None = None,
    day_start_equity: float | None = None,
    holdings: dict[str, tuple[float, float]] | None = None,
    recent: tuple[str, ...] = ("limit",) * 20,
) -> BookView:
    """A book whose holdings are {symbol: (quantity, value)}; cash defaults to equity minus holdings."""
    holdings = holdings or {}
    invested = sum(value for _, value in holdings.values())
    return BookView(
        equity=equity,
        cash=equity - invested if cash is None else cash,
        day_start_equity=equity if day_start_equity is None else day_start_equity,
        quantities={s: q for s, (q, _) in holdings.items()},
        values={s: v for s, (_, v) in holdings.items()},
        recent_entry_order_types=recent,
    )


def buy(**overrides: object) -> ProposedOrder:
    base = ProposedOrder(
        symbol="SPY",
        action=Action.BUY,
        size_pct=2.0,
        order_type="limit",
        limit_price=99.0,
        stop_loss_pct=1.0,
        take_profit_pct=2.0,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def sell(**overrides: object) -> ProposedOrder:
    return buy(action=Action.SELL, **overrides)


def guard(
    proposal: ProposedOrder,
    *,
    price: float = PRICE,
    posture: PostureParams = OFFENSIVE,
    limits: RiskLimits = LIMITS,
    book_view: BookView | None = None,
) -> GuardDecision:
    return guard_order(proposal, price=price, posture=posture, limits=limits, book=book_view or book(), price_age_s=0.0)


def rules(decision: GuardDecision) -> set[str]:
    return {change.rule for change in decision.changes}


# --- HOLD and invalid inputs -------------------------------------------------------------------------


def test_hold_produces_no_order() -> None:
    decision = guard(buy(action=Action.HOLD))
    assert not decision.approved
    assert decision.rejected_because == "commander chose hold"


@pytest.mark.parametrize("price", [math.nan, math.inf, 0.0, -5.0])
def test_invalid_price_is_rejected(price: float) -> None:
    decision = guard(buy(), price=price)
    assert decision.order is None
    assert "price" in (decision.rejected_because or "")


@pytest.mark.parametrize("equity", [math.nan, -math.inf, 0.0, -1.0])
def test_invalid_equity_is_rejected(equity: float) -> None:
    decision = guard(buy(), book_view=book(equity=equity, cash=1000.0))
    assert decision.order is None
    assert "equity" in (decision.rejected_because or "")


# --- BUY ---------------------------------------------------------------------------------------------


def test_valid_buy_passes_unchanged() -> None:
    decision = guard(buy())
    assert decision.changes == ()
    order = decision.order
    assert order is not None
    assert (order.side, order.order_type, order.limit_price, order.quantity) == ("buy", "limit", 99.0, 20.0)
    assert order.reference_price == 99.0
    assert order.stop_loss_price == pytest.approx(99.0 * 0.99)
    assert order.take_profit_price == pytest.approx(99.0 * 1.02)
    assert order.notional == pytest.approx(1980.0)


def test_buy_past_daily_loss_limit_is_rejected() -> None:
    decision = guard(buy(), book_view=book(equity=97_000.0, day_start_equity=100_000.0))
    assert decision.order is None
    assert "daily loss" in (decision.rejected_because or "")


def test_buy_just_short_of_daily_loss_limit_is_allowed() -> None:
    assert guard(buy(), book_view=book(equity=97_100.0, day_start_equity=100_000.0)).approved


def test_buy_of_new_symbol_at_max_open_positions_is_rejected() -> None:
    held = {f"S{i}": (10.0, 1000.0) for i in range(OFFENSIVE.max_open_positions)}
    decision = guard(buy(), book_view=book(holdings=held))
    assert decision.order is None
    assert "posture allows 5" in (decision.rejected_because or "")


def test_adding_to_a_held_symbol_at_max_open_positions_is_allowed() -> None:
    held = {f"S{i}": (10.0, 1000.0) for i in range(OFFENSIVE.max_open_positions - 1)} | {"SPY": (10.0, 1000.0)}
    assert guard(buy(), book_view=book(holdings=held)).approved


def test_any_buy_is_rejected_while_the_book_holds_more_than_the_posture_allows() -> None:
    defensive = DEFAULT_POSTURES[Posture.DEFENSIVE]
    held = {"SPY": (10.0, 1000.0), "QQQ": (10.0, 1000.0), "IWM": (10.0, 1000.0)}
    assert guard(buy(), posture=defensive, book_view=book(holdings=held)).order is None


@pytest.mark.parametrize("size_pct", [math.nan, math.inf, -math.inf, 0.0, -2.0])
def test_buy_with_invalid_size_is_rejected(size_pct: float) -> None:
    decision = guard(buy(size_pct=size_pct))
    assert decision.order is None
    assert "size_pct" in (decision.rejected_because or "")


def test_buy_size_is_clipped_to_posture_entry_size() -> None:
    decision = guard(buy(size_pct=50.0))
    assert decision.order is not None
    assert decision.order.notional <= OFFENSIVE.entry_size_pct / 100 * 100_000.0
    assert decision.order.quantity == math.floor(2500.0 / 99.0)
    change = next(c for c in decision.changes if c.rule == "posture.entry_size")
    assert (change.field, change.before, change.after) == ("size_pct", "50", "2.5")


def test_buy_notional_is_clipped_to_cash_after_fee_buffer() -> None:
    decision = guard(buy(order_type="market"), book_view=book(cash=1005.0))
    assert decision.order is not None
    assert "limits.cash" in rules(decision)
    assert decision.order.quantity == 10.0  # 1005 / 1.005 = 1000 -> 10 units at 100
    assert decision.order.notional * 1.005 <= 1005.0 + 1e-9


def test_buy_without_cash_is_rejected() -> None:
    decision = guard(buy(), book_view=book(cash=0.0))
    assert decision.order is None
    assert "cash" in (decision.rejected_because or "")


def test_buy_notional_is_clipped_to_concentration_limit() -> None:
    decision = guard(buy(order_type="market"), book_view=book(holdings={"SPY": (190.0, 19_000.0)}))
    assert decision.order is not None
    assert "limits.concentration" in rules(decision)
    assert 19_000.0 + decision.order.quantity * PRICE <= 20_000.0
    assert decision.order.quantity == 10.0


def test_concentration_of_a_buy_limit_is_measured_at_market_value() -> None:
    decision = guard(buy(limit_price=95.0), book_view=book(holdings={"SPY": (195.0, 19_500.0)}))
    assert decision.order is not None
    assert 19_500.0 + decision.order.quantity * PRICE <= 20_000.0


def test_buy_of_symbol_already_at_concentration_limit_is_rejected() -> None:
    decision = guard(buy(), book_view=book(holdings={"SPY": (200.0, 20_000.0)}))
    assert decision.order is None
    assert "concentration" in (decision.rejected_because or "")


def test_buy_below_one_unit_is_rejected() -> None:
    decision = guard(buy(size_pct=0.05, limit_price=990.0), price=1000.0)  # 50 of notional at 990 -> 0 units
    assert decision.order is None
    assert "below one unit" in (decision.rejected_because or "")


def test_buy_limit_above_market_is_clipped_to_market() -> None:
    decision = guard(buy(limit_price=105.0))
    assert decision.order is not None
    assert decision.order.limit_price == PRICE
    assert "limit_price.not_above_market" in rules(decision)


@pytest.mark.parametrize("limit_price", [None, math.nan, math.inf, 0.0, -3.0])
def test_buy_limit_without_a_valid_price_goes_at_market_price(limit_price: float | None) -> None:
    decision = guard(buy(limit_price=limit_price))
    assert decision.order is not None
    assert (decision.order.order_type, decision.order.limit_price) == ("limit", PRICE)
    assert "limit_price.invalid" in rules(decision)


def test_unknown_order_type_is_treated_as_limit() -> None:
    decision = guard(buy(order_type="stop-market"))
    assert decision.order is not None
    assert decision.order.order_type == "limit"
    assert "order_type.invalid" in rules(decision)


def test_market_buy_that_would_break_the_limit_share_becomes_a_limit_at_market_price() -> None:
    recent = ("limit",) * 13 + ("market",) * 6  # 13 of 20 with this one = 65 % < 70 %
    decision = guard(buy(order_type="market"), book_view=book(recent=recent))
    assert decision.order is not None
    assert (decision.order.order_type, decision.order.limit_price) == ("limit", PRICE)
    assert "posture.limit_order_share" in rules(decision)


def test_market_buy_within_the_limit_share_stays_market() -> None:
    recent = ("market",) * 30 + ("limit",) * 14 + ("market",) * 5  # last 19: 14 limits -> 14/20 = 70 %
    decision = guard(buy(order_type="market"), book_view=book(recent=recent))
    assert decision.order is not None
    assert (decision.order.order_type, decision.order.limit_price) == ("market", None)


def test_first_market_buy_under_defensive_posture_becomes_limit() -> None:
    decision = guard(buy(order_type="market"), posture=DEFAULT_POSTURES[Posture.DEFENSIVE], book_view=book(recent=()))
    assert decision.order is not None
    assert decision.order.order_type == "limit"


@pytest.mark.parametrize("stop", [None, math.nan, -1.0, 0.0, 5.0])
def test_missing_or_too_wide_stop_is_set_to_posture_stop(stop: float | None) -> None:
    decision = guard(buy(stop_loss_pct=stop))
    assert decision.order is not None
    assert decision.order.stop_loss_price == pytest.approx(99.0 * (1 - OFFENSIVE.stop_loss_pct / 100))
    assert "posture.stop_loss_band" in rules(decision)


def test_tighter_stop_is_kept() -> None:
    decision = guard(buy(stop_loss_pct=0.5))
    assert decision.order is not None
    assert decision.order.stop_loss_price == pytest.approx(99.0 * 0.995)
    assert "posture.stop_loss_band" not in rules(decision)


@pytest.mark.parametrize("target", [None, math.inf, -2.0, 0.0, 10.0])
def test_missing_or_too_wide_target_is_set_to_posture_target(target: float | None) -> None:
    decision = guard(buy(take_profit_pct=target))
    assert decision.order is not None
    assert decision.order.take_profit_price == pytest.approx(99.0 * (1 + OFFENSIVE.take_profit_pct / 100))
    assert "posture.take_profit_band" in rules(decision)


# --- SELL --------------------------------------------------------------------------------------------


def test_sell_without_position_is_rejected_as_short_selling() -> None:
    decision = guard(sell())
    assert decision.order is None
    assert decision.rejected_because == "nothing to sell: short selling is disabled"


def test_sell_closes_the_whole_position_whatever_the_size() -> None:
    decision = guard(
        sell(size_pct=0.1, limit_price=None, order_type="market"),
        book_view=book(holdings={"SPY": (37.0, 3700.0)}),
    )
    assert decision.order is not None
    assert (decision.order.side, decision.order.quantity, decision.order.order_type) == (
        "sell",
        37.0,
        "market",
    )


def test_sell_is_allowed_past_the_daily_loss_limit() -> None:
    view = book(equity=90_000.0, day_start_equity=100_000.0, holdings={"SPY": (10.0, 1000.0)})
    assert guard(sell(), book_view=view).approved


def test_sell_limit_within_band_is_kept() -> None:
    decision = guard(sell(limit_price=101.0), book_view=book(holdings={"SPY": (10.0, 1000.0)}))
    assert decision.order is not None
    assert (decision.order.order_type, decision.order.limit_price) == ("limit", 101.0)


@pytest.mark.parametrize("limit_price", [None, math.nan, 0.0, -1.0])
def test_sell_limit_missing_or_invalid_goes_at_market(limit_price: float | None) -> None:
    decision = guard(sell(limit_price=limit_price), book_view=book(holdings={"SPY": (10.0, 1000.0)}))
    assert decision.order is not None
    assert (decision.order.order_type, decision.order.limit_price) == ("market", None)
    assert "limit_price.invalid" in rules(decision)


@pytest.mark.parametrize("limit_price", [89.0, 89.99, 110.01, 500.0])
def test_sell_limit_outside_the_price_band_is_rejected(limit_price: float) -> None:
    decision = guard(sell(limit_price=limit_price), book_view=book(holdings={"SPY": (10.0, 1000.0)}))
    assert decision.order is None
    assert "more than 10 % from the price" in (decision.rejected_because or "")


def test_sell_carries_no_stop_or_target() -> None:
    decision = guard(sell(), book_view=book(holdings={"SPY": (10.0, 1000.0)}))
    assert decision.order is not None
    assert decision.order.stop_loss_price is None
    assert decision.order.take_profit_price is None
    assert "sell.no_brackets" in rules(decision)


def test_risk_limits_reject_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="daily_loss_limit_pct"):
        RiskLimits(daily_loss_limit_pct=math.nan)
    with pytest.raises(ValueError, match="limit_share_window"):
        RiskLimits(limit_share_window=0)


# --- property: whatever comes out respects every limit ---------------------------------------------

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
any_float = st.floats(allow_nan=True, allow_infinity=True)


def mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` nine times in ten, so most examples reach the deep rules; ``odd`` otherwise."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda i: odd if i == 0 else usual)


optional_float = st.none() | any_float | st.floats(min_value=0.01, max_value=10.0)
order_types = mostly(st.sampled_from(["market", "limit"]), st.text(max_size=8))

proposals = st.builds(
    ProposedOrder,
    symbol=st.sampled_from(SYMBOLS),
    action=st.sampled_from([Action.BUY, Action.BUY, Action.BUY, Action.SELL, Action.HOLD]),
    size_pct=mostly(st.floats(min_value=0.01, max_value=50.0), any_float),
    order_type=order_types,
    limit_price=mostly(st.floats(min_value=0.5, max_value=5000.0), optional_float),
    stop_loss_pct=optional_float,
    take_profit_pct=optional_float,
)

prices = mostly(st.floats(min_value=0.5, max_value=5000.0), any_float)

limits_strategy = st.just(RiskLimits()) | st.builds(
    RiskLimits,
    daily_loss_limit_pct=st.floats(min_value=0.1, max_value=20.0),
    max_concentration_pct=st.floats(min_value=1.0, max_value=100.0),
    fee_buffer_pct=st.floats(min_value=0.0, max_value=5.0),
    limit_share_window=st.integers(min_value=1, max_value=40),
)


@st.composite
def books(draw: st.DrawFn) -> BookView:
    """A consistent long-only book: equity is cash plus the holdings' value."""
    held = draw(mostly(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=3), st.just(list(SYMBOLS))))
    quantities = {s: float(draw(st.integers(min_value=1, max_value=5_000))) for s in held}
    values = {s: quantities[s] * draw(st.floats(min_value=0.5, max_value=5000.0)) for s in held}
    cash = draw(mostly(st.floats(min_value=1_000.0, max_value=5_000_000.0), st.floats(min_value=0.0, max_value=1e3)))
    equity = cash + sum(values.values())
    day_start = equity * draw(mostly(st.floats(min_value=0.95, max_value=1.1), st.floats(min_value=0.5, max_value=1.5)))
    # A long run of limit orders then a few of anything, so market buys can stay market.
    recent = ("limit",) * draw(st.integers(min_value=0, max_value=40)) + tuple(
        draw(st.lists(st.sampled_from(["limit", "market", "bogus"]), max_size=6))
    )
    return BookView(
        equity=equity,
        cash=cash,
        day_start_equity=day_start,
        quantities=quantities,
        values=values,
        recent_entry_order_types=recent,
    )


@settings(
    max_examples=2000,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    proposal=proposals,
    price=prices,
    posture=st.sampled_from(list(DEFAULT_POSTURES.values())),
    limits=limits_strategy,
    view=books(),
)
def test_any_order_the_guard_lets_out_respects_every_limit(
    proposal: ProposedOrder, price: float, posture: PostureParams, limits: RiskLimits, view: BookView
) -> None:
    decision = guard_order(proposal, price=price, posture=posture, limits=limits, book=view, price_age_s=0.0)
    order = decision.order
    assert (order is None) != (decision.rejected_because is None)
    event("rejected" if order is None else f"{order.side} {order.order_type}")
    if order is None:
        return
    tolerance = 1 + 1e-9
    assert order.symbol == proposal.symbol
    assert order.order_type in ("market", "limit")
    assert math.isfinite(order.quantity)
    assert order.quantity > 0
    if order.side == "sell":
        assert proposal.action == Action.SELL
        assert order.quantity <= view.quantities[proposal.symbol]
        assert order.stop_loss_price is None
        assert order.take_profit_price is None
        if order.order_type == "limit":
            assert order.limit_price is not None
            assert order.limit_price >= 0.9 * price
        return

    assert order.side == "buy"
    assert proposal.action == Action.BUY
    assert order.quantity == math.floor(order.quantity)
    assert order.quantity >= 1
    loss_pct = (view.day_start_equity - view.equity) / view.day_start_equity * 100
    assert loss_pct < limits.daily_loss_limit_pct
    assert order.notional <= posture.entry_size_pct / 100 * view.equity * tolerance
    assert order.notional <= view.cash
    assert order.notional * (1 + limits.fee_buffer_pct / 100) <= view.cash * tolerance
    value_after = view.values.get(order.symbol, 0.0) + order.quantity * price
    assert value_after <= limits.max_concentration_pct / 100 * view.equity * tolerance
    assert len(set(view.quantities) | {order.symbol}) <= posture.max_open_positions
    assert 0 < order.reference_price <= price
    if order.order_type == "limit":
        assert order.limit_price == order.reference_price
    else:
        window = (*view.recent_entry_order_types, "market")[-limits.limit_share_window :]
        share_pct = 100 * sum(kind == "limit" for kind in window) / len(window)
        assert share_pct >= posture.limit_order_share_pct
    assert order.stop_loss_price is not None
    assert order.take_profit_price is not None
    stop_distance = (order.reference_price - order.stop_loss_price) / order.reference_price * 100
    target_distance = (order.take_profit_price - order.reference_price) / order.reference_price * 100
    assert 0 < stop_distance <= posture.stop_loss_pct * tolerance
    assert 0 < target_distance <= posture.take_profit_pct * tolerance


@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    proposal=proposals,
    price=any_float,
    equity=any_float,
    cash=any_float,
    day_start=any_float,
    quantity=any_float,
    value=any_float,
)
def test_guard_never_raises_on_a_nonsense_book(
    proposal: ProposedOrder,
    price: float,
    equity: float,
    cash: float,
    day_start: float,
    quantity: float,
    value: float,
) -> None:
    view = BookView(
        equity=equity,
        cash=cash,
        day_start_equity=day_start,
        quantities={proposal.symbol: quantity, "OTHER": quantity},
        values={proposal.symbol: value, "OTHER": value},
        recent_entry_order_types=("market", "limit"),
    )
    decision = guard_order(proposal, price=price, posture=OFFENSIVE, limits=LIMITS, book=view, price_age_s=0.0)
    assert decision.approved == (decision.rejected_because is None)


# --- committed exposure: filled + pending ---------------------------------------------------------------


def pending_book(
    *,
    holdings: dict[str, tuple[float, float]] | None = None,
    pending: dict[str, float] | None = None,
    reserved: float | None = None,
    selling: dict[str, float] | None = None,
) -> BookView:
    """`book()` plus pending buys {symbol: value at market}; reserved cash defaults to their sum."""
    pending = pending or {}
    return replace(
        book(holdings=holdings),
        pending_buy_values=pending,
        pending_sell_quantities=selling or {},
        reserved_cash=sum(pending.values()) if reserved is None else reserved,
    )


def test_pending_buys_count_towards_concentration() -> None:
    decision = guard(buy(size_pct=2.5), book_view=pending_book(pending={"SPY": 19_000.0}))
    assert decision.order is not None
    assert 19_000.0 + decision.order.quantity * PRICE <= 20_000.0
    assert "limits.concentration" in rules(decision)
    full = guard(buy(), book_view=pending_book(pending={"SPY": 20_000.0}))
    assert full.order is None
    assert "concentration limit" in (full.rejected_because or "")


def test_pending_buys_count_as_open_positions() -> None:
    pending = {s: 2_000.0 for s in ("A", "B", "C", "D", "E")}  # offensive allows 5
    decision = guard(buy(), book_view=pending_book(pending=pending))
    assert decision.order is None
    assert "5 symbols held or pending" in (decision.rejected_because or "")
    assert guard(buy(symbol="A"), book_view=pending_book(pending=pending)).order is not None


def test_cash_reserved_by_pending_buys_is_not_spent_twice() -> None:
    view = pending_book(pending={"A": 1_000.0}, reserved=99_500.0)  # 500 of 100,000 left
    decision = guard(buy(size_pct=2.5), book_view=view)
    assert decision.order is not None
    assert decision.order.notional * 1.005 <= 500.0 + 1e-9
    assert "limits.cash" in rules(decision)


@pytest.mark.parametrize(("gross_pct", "approved"), [(99.0, True), (100.0, False), (101.0, False)])
def test_gross_exposure_limit_on_filled_and_pending(gross_pct: float, approved: bool) -> None:
    filled = {s: (1.0, gross_pct / 4 * 1_000.0) for s in ("A", "B")}  # half filled, half pending
    view = replace(pending_book(holdings=filled, pending={"C": gross_pct / 2 * 1_000.0}, reserved=0.0), cash=100_000.0)
    limits = replace(LIMITS, max_concentration_pct=100.0)
    decision = guard(buy(), book_view=view, limits=limits)
    assert decision.approved is approved
    if approved:
        assert decision.order is not None
        assert view.gross_exposure() + decision.order.quantity * PRICE <= 100_000.0
        assert "limits.gross_exposure" in rules(decision)
    else:
        assert "gross exposure" in (decision.rejected_because or "")


def test_a_pending_sell_is_not_sold_twice() -> None:
    held = {"SPY": (10.0, 1_000.0)}
    partly = guard(sell(order_type="market"), book_view=pending_book(holdings=held, selling={"SPY": 4.0}))
    assert partly.order is not None
    assert partly.order.quantity == 6.0
    whole = guard(sell(order_type="market"), book_view=pending_book(holdings=held, selling={"SPY": 10.0}))
    assert whole.order is None
    assert "pending sell already closes" in (whole.rejected_because or "")


@pytest.mark.parametrize(("limit_price", "approved"), [(90.0, True), (89.99, False), (110.0, True), (110.01, False)])
def test_buy_limit_price_band(limit_price: float, approved: bool) -> None:
    decision = guard(buy(limit_price=limit_price))
    assert decision.approved is approved
    if not approved:
        assert "more than 10 % from the price" in (decision.rejected_because or "")


@pytest.mark.parametrize(("age_s", "approved"), [(29.999, True), (30.0, True), (30.001, False), (math.nan, False)])
def test_a_buy_needs_a_fresh_reference_price(age_s: float, approved: bool) -> None:
    decision = guard_order(buy(), price=PRICE, posture=OFFENSIVE, limits=LIMITS, book=book(), price_age_s=age_s)
    assert decision.approved is approved
    if not approved:
        assert "no buy on a stale price" in (decision.rejected_because or "")


def test_a_stale_reference_rejects_a_sell_limit_but_not_a_market_sell() -> None:
    held = book(holdings={"SPY": (10.0, 1_000.0)})
    limit = guard_order(
        sell(limit_price=99.0), price=PRICE, posture=OFFENSIVE, limits=LIMITS, book=held, price_age_s=60
    )
    assert limit.order is None
    assert "price band" in (limit.rejected_because or "")
    market = guard_order(
        sell(order_type="market"), price=PRICE, posture=OFFENSIVE, limits=LIMITS, book=held, price_age_s=60
    )
    assert market.order is not None
