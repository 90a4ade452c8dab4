"""Market integrity: wash trades, layering and spoofing, each found and not found at the edges of its window and
threshold; reductions never blocked; a property test over random order sequences."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.market_integrity import Finding, IntegrityLimits, OrderView, SideName, StatusName, check_order, scan

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
REF = 100.0
LIMITS = IntegrityLimits()  # wash 300 s, layering 3, away 1 %, spoofing 3 quick cancels within 60 s, 3600 s back


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def view(order_id: str, side: str = "buy", price: float | None = 100.0, t: float = 0.0, **changes: Any) -> OrderView:
    base = OrderView(
        order_id=order_id,
        symbol="AAPL",
        side=side,  # type: ignore[arg-type]
        order_type="limit" if price is not None else "market",
        limit_price=price,
        quantity=10.0,
        created_at=at(t),
    )
    return replace(base, **changes)


def filled(order_id: str, side: str, price: float, t: float, fill_price: float | None = None) -> OrderView:
    return view(order_id, side, price, t, status="filled", closed_at=at(t), fill_price=fill_price or price)


def cancelled(order_id: str, side: str, price: float, t: float, rested_s: float) -> OrderView:
    return view(order_id, side, price, t, status="cancelled", closed_at=at(t + rested_s))


def patterns(findings: list[Finding]) -> list[str]:
    return [f.pattern for f in findings]


# ---- the views and the limits refuse bad input with one line ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"side": "short"}, "side must be one of"),
        ({"status": "open"}, "status must be one of"),
        ({"limit_price": None}, "a limit order needs a positive limit"),
        ({"limit_price": float("nan")}, "a limit order needs a positive limit"),
        ({"order_type": "market"}, "a market order carries no limit price"),
        ({"quantity": 0.0}, "quantity must be positive"),
        ({"created_at": datetime(2026, 3, 2, 15)}, "created_at must be timezone-aware"),
        ({"fill_price": -1.0}, "fill price must be positive"),
    ],
)
def test_an_order_view_refuses_what_it_cannot_judge(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        view("o1", **changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"wash_window_s": 0.0},
        {"away_pct": float("inf")},
        {"cancel_within_s": -1.0},
        {"lookback_s": float("nan")},
        {"layering_min_orders": 1},
        {"spoofing_min_orders": 2.5},
    ],
)
def test_integrity_limits_refuse_nonsense(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        IntegrityLimits(**changes)


def test_a_reference_price_must_be_positive() -> None:
    with pytest.raises(ValueError, match="reference price of AAPL"):
        check_order(view("c"), [], 0.0, LIMITS, reduces=False)


# ---- wash trades ---------------------------------------------------------------------------------------


def test_a_buy_crossing_a_pending_sell_is_a_wash_trade_whatever_the_bots() -> None:
    sell = view("s1", "sell", 100.0, t=0, bot_id="value")
    buy = view("b1", "buy", 100.0, t=10_000, bot_id="growth")  # a pending order is in the market until it closes
    [finding] = check_order(buy, [sell], REF, LIMITS, reduces=False)
    assert finding.pattern == "wash_trade"
    assert finding.order_ids == ("s1", "b1")
    assert "buy 100 >= sell 100" in finding.reason and "0 s apart" in finding.reason


def test_prices_that_do_not_cross_are_no_wash_trade() -> None:
    sell = view("s1", "sell", 100.5, t=0)
    assert check_order(view("b1", "buy", 100.4, t=1), [sell], REF, LIMITS, reduces=False) == []


def test_a_market_order_crosses_at_the_reference_price() -> None:
    sell = view("s1", "sell", 99.0, t=0)
    assert patterns(check_order(view("b1", "buy", None, t=1), [sell], REF, LIMITS, reduces=False)) == ["wash_trade"]
    above = view("s2", "sell", 100.01, t=0)
    assert check_order(view("b2", "buy", None, t=1), [above], REF, LIMITS, reduces=False) == []


def test_a_filled_order_crosses_at_its_fill_price_within_the_window_only() -> None:
    sold = filled("s1", "sell", 100.0, t=0, fill_price=99.5)
    edge = view("b1", "buy", 99.5, t=300)  # exactly the window after the fill
    [finding] = check_order(edge, [sold], REF, LIMITS, reduces=False)
    assert "99.5 (filled)" in finding.reason and "300 s apart (window 300 s)" in finding.reason
    late = view("b2", "buy", 99.5, t=300.001)
    assert check_order(late, [sold], REF, LIMITS, reduces=False) == []
    below_fill = view("b3", "buy", 99.49, t=10)  # under the fill price, though above nothing else
    assert check_order(below_fill, [sold], REF, LIMITS, reduces=False) == []


def test_cancelled_and_expired_orders_never_traded_so_never_wash() -> None:
    gone = [cancelled("s1", "sell", 99.0, t=0, rested_s=1), view("s2", "sell", 99.0, t=0, status="expired")]
    assert check_order(view("b1", "buy", 100.0, t=2), gone, REF, LIMITS, reduces=False) == []


def test_orders_of_other_symbols_and_the_same_side_never_pair() -> None:
    others = [replace(view("s1", "sell", 99.0), symbol="MSFT"), view("b0", "buy", 101.0)]
    assert check_order(view("b1", "buy", 100.0, t=1), others, REF, LIMITS, reduces=False) == []


def test_a_close_that_crosses_a_pending_buy_is_never_blocked() -> None:
    buy = view("b1", "buy", 101.0, t=0)
    assert check_order(view("s1", "sell", 100.0, t=1), [buy], REF, LIMITS, reduces=True) == []


# ---- layering ------------------------------------------------------------------------------------------


def _stack(count: int, side: str = "buy", price: float = 98.0) -> list[OrderView]:
    return [view(f"l{i}", side, price, t=i) for i in range(count)]


def test_the_third_open_order_away_from_the_market_is_layering() -> None:
    [finding] = check_order(view("c", "buy", 98.5, t=10), _stack(2), REF, LIMITS, reduces=False)
    assert finding.pattern == "layering"
    assert finding.order_ids == ("l0", "l1", "c")
    assert "no. 3" in finding.reason and "98, 98, 98.5" in finding.reason


def test_the_second_is_not_yet_layering() -> None:
    assert check_order(view("c", "buy", 98.5, t=10), _stack(1), REF, LIMITS, reduces=False) == []


def test_exactly_away_pct_from_the_market_is_at_the_market() -> None:
    at_edge = [view("l0", "buy", 99.0), view("l1", "buy", 99.0)]
    assert check_order(view("c", "buy", 99.0, t=1), at_edge, REF, LIMITS, reduces=False) == []
    assert patterns(check_order(view("c", "buy", 98.99, t=1), _stack(2), REF, LIMITS, reduces=False)) == ["layering"]


def test_a_marketable_limit_rests_nowhere() -> None:
    # a buy limit 5 % above the market fills at once: not resting away from the market
    high = [view("l0", "buy", 105.0), view("l1", "buy", 105.0)]
    assert check_order(view("c", "buy", 105.0, t=1), high, REF, LIMITS, reduces=False) == []


def test_sells_stack_above_the_market() -> None:
    [finding] = check_order(view("c", "sell", 101.5, t=5), _stack(2, "sell", 102.0), REF, LIMITS, reduces=False)
    assert finding.pattern == "layering"


def test_closed_orders_are_no_longer_in_the_stack() -> None:
    stack = [view("l0", "buy", 98.0, status="expired", closed_at=at(1)), filled("l1", "buy", 98.0, t=0)]
    assert check_order(view("c", "buy", 98.0, t=2), stack, REF, LIMITS, reduces=False) == []


def test_a_higher_threshold_moves_the_edge() -> None:
    limits = IntegrityLimits(layering_min_orders=4)
    assert check_order(view("c", "buy", 98.0, t=9), _stack(2), REF, limits, reduces=False) == []
    assert patterns(check_order(view("c", "buy", 98.0, t=9), _stack(3), REF, limits, reduces=False)) == ["layering"]


# ---- spoofing ------------------------------------------------------------------------------------------


def _spoofs(count: int, rested_s: float = 60.0, t: float = 0.0, price: float = 102.0) -> list[OrderView]:
    return [cancelled(f"x{i}", "sell", price, t=t + i, rested_s=rested_s) for i in range(count)]


def test_a_buy_after_three_quick_cancelled_sells_away_from_the_market_is_spoofing() -> None:
    [finding] = check_order(view("c", "buy", 100.0, t=100), _spoofs(3), REF, LIMITS, reduces=False)
    assert finding.pattern == "spoofing"
    assert finding.order_ids == ("x0", "x1", "x2", "c")
    assert "3 sell orders" in finding.reason and "within 60 s" in finding.reason


def test_two_quick_cancels_are_not_yet_spoofing() -> None:
    assert check_order(view("c", "buy", 100.0, t=100), _spoofs(2), REF, LIMITS, reduces=False) == []


def test_a_cancel_later_than_cancel_within_s_does_not_count() -> None:
    slow = [*_spoofs(2), cancelled("slow", "sell", 102.0, t=5, rested_s=60.001)]
    assert check_order(view("c", "buy", 100.0, t=100), slow, REF, LIMITS, reduces=False) == []


def test_cancels_older_than_the_lookback_do_not_count() -> None:
    spoofs = _spoofs(3, rested_s=1)  # cancelled at 1, 2 and 3 s
    assert patterns(check_order(view("c", "buy", 100.0, t=3_601), spoofs, REF, LIMITS, reduces=False)) == ["spoofing"]
    assert check_order(view("c", "buy", 100.0, t=3_601.001), spoofs, REF, LIMITS, reduces=False) == []


def test_quick_cancels_at_the_market_or_on_the_same_side_are_not_spoofing() -> None:
    near = _spoofs(3, price=101.0)  # exactly 1 % above: at the market
    assert check_order(view("c", "buy", 100.0, t=100), near, REF, LIMITS, reduces=False) == []
    same_side = [cancelled(f"y{i}", "buy", 97.0, t=i, rested_s=5) for i in range(3)]
    assert check_order(view("c", "buy", 100.0, t=100), same_side, REF, LIMITS, reduces=False) == []


def test_a_close_after_spoofed_bids_is_never_blocked() -> None:
    bids = [cancelled(f"y{i}", "buy", 97.0, t=i, rested_s=5) for i in range(5)]
    assert check_order(view("c", "sell", 100.0, t=100), bids, REF, LIMITS, reduces=True) == []
    assert patterns(check_order(view("c", "sell", 100.0, t=100), bids, REF, LIMITS, reduces=False)) == ["spoofing"]


# ---- scan ----------------------------------------------------------------------------------------------


def test_scan_finds_each_pattern_once_in_a_run_of_orders() -> None:
    orders = [
        view("s1", "sell", 100.0, t=0),
        view("b1", "buy", 100.0, t=1),  # crosses s1
        *_stack(3, price=97.0),  # l2 completes the stack
        replace(view("m1", "buy", 50.0, t=0), symbol="MSFT"),
    ]
    found = scan(orders, {"AAPL": REF, "MSFT": 60.0}, LIMITS)
    assert [(f.pattern, f.order_ids) for f in found] == [
        ("wash_trade", ("s1", "b1")),
        ("layering", ("l0", "l1", "l2")),
    ]
    assert scan(orders, {"AAPL": REF, "MSFT": 60.0}, LIMITS, reductions={"b1", "l2"}) == []


def test_scan_judges_each_order_by_the_orders_placed_before_it() -> None:
    # l0 was cancelled before l2 was placed: only two rested together
    orders = [view("l0", "buy", 97.0, t=0, status="cancelled", closed_at=at(1.5)), *_stack(3, price=97.0)[1:]]
    assert scan(orders, {"AAPL": REF}, LIMITS) == []


def test_scan_needs_a_reference_price_for_every_symbol() -> None:
    with pytest.raises(ValueError, match="no reference price for AAPL"):
        scan([view("o1")], {}, LIMITS)


# ---- properties over random order sequences ------------------------------------------------------------

SYMBOLS = ("AAPL", "MSFT")
SIDES: tuple[SideName, ...] = ("buy", "sell")
STATUSES: tuple[StatusName, ...] = ("pending", "filled", "expired", "cancelled")


@st.composite
def order_views(draw: st.DrawFn, order_id: str) -> OrderView:
    side = draw(st.sampled_from(SIDES))
    market = draw(st.booleans())
    price = None if market else draw(st.floats(90.0, 110.0))
    created = draw(st.floats(0.0, 7_200.0))
    status = draw(st.sampled_from(STATUSES))
    closed = None if status == "pending" else created + draw(st.floats(0.0, 600.0))
    fill = draw(st.floats(90.0, 110.0)) if status == "filled" and draw(st.booleans()) else None
    return OrderView(
        order_id=order_id,
        symbol=draw(st.sampled_from(SYMBOLS)),
        side=side,
        order_type="market" if market else "limit",
        limit_price=price,
        quantity=1.0,
        created_at=at(created),
        status=status,
        closed_at=None if closed is None else at(closed),
        fill_price=fill,
    )


@st.composite
def sequences(draw: st.DrawFn) -> tuple[OrderView, list[OrderView]]:
    count = draw(st.integers(0, 25))
    recent = [draw(order_views(f"r{i}")) for i in range(count)]
    candidate = replace(draw(order_views("cand")), status="pending", closed_at=None, fill_price=None)
    return candidate, recent


@settings(max_examples=300)
@given(sequences(), st.floats(90.0, 110.0), st.integers(2, 4))
def test_a_reduction_is_never_blocked_and_findings_name_only_the_candidates_symbol(
    drawn: tuple[OrderView, list[OrderView]], reference: float, threshold: int
) -> None:
    candidate, recent = drawn
    limits = IntegrityLimits(layering_min_orders=threshold, spoofing_min_orders=threshold)
    assert check_order(candidate, recent, reference, limits, reduces=True) == []
    symbol_of = {o.order_id: o.symbol for o in recent} | {candidate.order_id: candidate.symbol}
    for finding in check_order(candidate, recent, reference, limits, reduces=False):
        assert finding.order_ids[-1] == candidate.order_id
        assert len(set(finding.order_ids)) == len(finding.order_ids)
        assert {symbol_of[i] for i in finding.order_ids} == {candidate.symbol}


@settings(max_examples=100)
@given(st.lists(order_views("x"), max_size=20), st.floats(90.0, 110.0))
def test_scan_never_names_a_reduction_as_completing_a_pattern(drawn: list[OrderView], reference: float) -> None:
    orders = [replace(o, order_id=f"o{i}") for i, o in enumerate(drawn)]
    sells = {o.order_id for o in orders if o.side == "sell"}
    for finding in scan(orders, dict.fromkeys(SYMBOLS, reference), LIMITS, reductions=sells):
        assert finding.order_ids[-1] not in sells
