"""Specification of the daily-loss circuit breaker: a 10 % daily loss stops the losing bots, or all bots."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.circuit_breaker import BotStop, BreakerDecision, BreakerScope, BreakerSettings, check_daily_loss

ALL = BreakerSettings(scope=BreakerScope.ALL)


def test_the_default_is_ten_percent_on_each_bot_separately() -> None:
    assert BreakerSettings() == BreakerSettings(daily_loss_limit_pct=10.0, scope=BreakerScope.BOTS)


def test_a_bot_that_lost_ten_percent_of_its_day_start_equity_stops_and_only_that_bot() -> None:
    decision = check_daily_loss(["loser", "flat", "winner"], [1_000.0, 1_000.0, 1_000.0], [-100.0, 0.0, 250.0])
    assert decision == BreakerDecision(
        scope=BreakerScope.BOTS,
        daily_loss_limit_pct=10.0,
        portfolio_loss_pct=pytest.approx(-5.0),  # type: ignore[arg-type]
        stops=(BotStop("loser", -100.0, 1_000.0, 10.0, "daily loss 10.00 % reached the 10 % limit"),),
    )
    assert decision.tripped
    assert decision.stopped_ids == ("loser",)


@pytest.mark.parametrize(("pnl", "stops"), [(-99.99, False), (-100.0, True), (-350.0, True)])
def test_exactly_ten_percent_is_enough_to_stop(pnl: float, stops: bool) -> None:
    assert check_daily_loss(["b"], [1_000.0], [pnl]).tripped is stops


def test_a_loss_of_exactly_the_limit_in_decimal_money_is_not_lost_to_float_rounding() -> None:
    # -100 * -0.29 is 28.999999999999996 in binary floats, yet 0.29 is exactly 10 % of 2.90.
    assert check_daily_loss(["b"], [2.90], [-0.29]).stopped_ids == ("b",)


def test_each_bot_is_measured_against_its_own_day_start_equity() -> None:
    # The same 500 loss is 5 % of a large bot and 50 % of a small one.
    decision = check_daily_loss(["large", "small"], [10_000.0, 1_000.0], [-500.0, -500.0])
    assert decision.stopped_ids == ("small",)
    assert decision.stops[0].daily_loss_pct == 50.0


def test_scope_all_stops_every_bot_once_the_portfolio_lost_ten_percent() -> None:
    decision = check_daily_loss(["a", "b", "c"], [1_000.0, 1_000.0, 1_000.0], [-400.0, 0.0, 100.0], ALL)
    assert decision.stopped_ids == ("a", "b", "c")  # winners too
    assert decision.portfolio_loss_pct == 10.0
    assert {stop.reason for stop in decision.stops} == {"portfolio daily loss 10.00 % reached the 10 % limit"}


def test_scope_all_lets_a_single_loser_run_while_the_portfolio_is_within_the_limit() -> None:
    decision = check_daily_loss(["a", "b", "c"], [1_000.0, 1_000.0, 1_000.0], [-500.0, 100.0, 150.0], ALL)
    assert decision.portfolio_loss_pct == pytest.approx(25.0 / 3)
    assert not decision.tripped


def test_the_limit_is_a_setting() -> None:
    five = BreakerSettings(daily_loss_limit_pct=5.0)
    assert check_daily_loss(["b"], [1_000.0], [-50.0], five).stopped_ids == ("b",)
    assert check_daily_loss(["b"], [1_000.0], [-49.0], five).stopped_ids == ()


@pytest.mark.parametrize(
    ("equity", "pnl", "why"),
    [
        (1_000.0, math.nan, "daily P&L nan is not finite"),
        (1_000.0, -math.inf, "daily P&L -inf is not finite"),
        (0.0, -10.0, "day-start equity 0.0 is not a positive finite number"),
        (math.nan, 5.0, "day-start equity nan is not a positive finite number"),
    ],
)
def test_a_bot_that_cannot_be_measured_is_stopped_to_fail_closed(equity: float, pnl: float, why: str) -> None:
    decision = check_daily_loss(["broken", "fine"], [equity, 1_000.0], [pnl, 0.0])
    assert decision.stopped_ids == ("broken",)
    assert decision.stops[0].reason.startswith(why)
    assert math.isnan(decision.stops[0].daily_loss_pct)
    assert math.isnan(decision.portfolio_loss_pct)


def test_under_scope_all_an_unmeasurable_bot_stops_everyone() -> None:
    decision = check_daily_loss(["a", "broken"], [1_000.0, 1_000.0], [50.0, math.nan], ALL)
    assert decision.stopped_ids == ("a", "broken")
    assert decision.stops[0].reason.startswith("portfolio daily loss cannot be measured (broken: daily P&L nan")


def test_no_bots_nothing_to_stop() -> None:
    for scope in BreakerScope:
        decision = check_daily_loss([], [], [], BreakerSettings(scope=scope))
        assert not decision.tripped
        assert decision.portfolio_loss_pct == 0.0


def test_arrays_that_do_not_match_the_bots_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"must be \(2,\) like bot_ids"):
        check_daily_loss(["a", "b"], [1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"daily_loss_limit_pct": 0.0}, "daily_loss_limit_pct"), ({"scope": "everything"}, "everything")],
)
def test_nonsense_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerSettings(**overrides)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    equity_cents=st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=50),
    data=st.data(),
)
def test_bot_scope_stops_exactly_the_bots_whose_loss_reached_the_limit(
    equity_cents: list[int], data: st.DataObject
) -> None:
    pnl_cents = [data.draw(st.integers(min_value=-e, max_value=e)) for e in equity_cents]
    ids = [f"bot-{i}" for i in range(len(equity_cents))]
    decision = check_daily_loss(ids, np.array(equity_cents) / 100, np.array(pnl_cents) / 100)
    # Whole cents, so "lost at least a tenth" is decided in integers: 10 * loss >= equity.
    expected = tuple(i for i, e, p in zip(ids, equity_cents, pnl_cents, strict=True) if -10 * p >= e)
    assert decision.stopped_ids == expected
