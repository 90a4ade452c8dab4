"""Specification of the loss conditions: 3 stop-losses in a row force the defensive posture, a 1 % drop within
60 s, a 5 % day drawdown halts, a position down 2 % warns, 80 % of the daily target informs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.tiers import (
    STOP_LOSS,
    DayDrawdown,
    LossThresholds,
    MinuteLoss,
    PositionWarning,
    TargetProgress,
    daily_target_progress,
    day_drawdown,
    forces_defensive,
    loss_per_minute,
    position_warnings,
    stop_loss_streak,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_the_defaults_are_those_of_the_source_documents() -> None:
    assert LossThresholds() == LossThresholds(
        defensive_after_stop_losses=3,
        loss_per_minute_pct=1.0,
        loss_window_s=60.0,
        emergency_drawdown_pct=5.0,
        position_warning_pct=2.0,
        target_info_pct=80.0,
    )


# --- stop-loss streak ----------------------------------------------------------------------------------


class FillReason(StrEnum):  # as the broker records exits
    EXIT = "exit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@pytest.mark.parametrize(
    ("reasons", "streak", "defensive"),
    [
        ([], 0, False),
        (["stop_loss", "stop_loss"], 2, False),
        (["stop_loss", "stop_loss", "stop_loss"], 3, True),  # "at 3"
        (["take_profit", "stop_loss", "stop_loss", "stop_loss", "stop_loss"], 4, True),
        (["stop_loss", "stop_loss", "stop_loss", "exit"], 0, False),  # any other exit ends the streak
        (["stop_loss", "take_profit", "stop_loss", "stop_loss"], 2, False),
    ],
)
def test_only_the_trailing_stop_losses_count(reasons: list[str], streak: int, defensive: bool) -> None:
    assert stop_loss_streak(reasons) == streak
    assert forces_defensive(reasons) is defensive


def test_the_brokers_fill_reasons_are_understood_as_they_are() -> None:
    assert STOP_LOSS == FillReason.STOP_LOSS
    assert forces_defensive([FillReason.EXIT, *[FillReason.STOP_LOSS] * 3])


# --- loss per minute -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("equity", "loss_pct", "breached"),
    [(99_001.0, 0.999, False), (99_000.0, 1.0, True), (98_999.0, 1.001, True)],  # "from 1.0 %"
)
def test_a_drop_of_1_percent_from_the_peak_within_60_seconds_breaches(
    equity: float, loss_pct: float, breached: bool
) -> None:
    result = loss_per_minute([(ago(50), 100_000.0), (ago(0), equity)], NOW)
    assert result == MinuteLoss(pytest.approx(loss_pct), 100_000.0, equity, ago(50), breached)  # type: ignore[arg-type]


def test_a_drop_of_exactly_1_percent_in_decimal_money_is_not_lost_to_float_rounding() -> None:
    # 100 * (2.90 - 2.871) / 2.90 is 0.9999999999999971 in binary floats, yet 0.029 is exactly 1 % of 2.90.
    assert loss_per_minute([(ago(10), 2.90), (ago(0), 2.871)], NOW).breached


@pytest.mark.parametrize(
    ("peak_age_s", "breached"),
    [(59.999, True), (60.0, True), (60.001, False)],  # a sample exactly 60 s old is in the window
)
def test_the_peak_must_lie_within_the_trailing_60_seconds(peak_age_s: float, breached: bool) -> None:
    samples = [(ago(peak_age_s), 100_000.0), (ago(30), 99_500.0), (ago(0), 99_000.0)]
    result = loss_per_minute(samples, NOW)
    assert result.breached is breached
    assert result.peak_equity == (100_000.0 if breached else 99_500.0)


def test_the_peak_is_the_highest_equity_in_the_window_and_the_current_one_is_the_latest() -> None:
    samples = [(ago(0), 98_900.0), (ago(40), 99_000.0), (ago(20), 100_000.0), (ago(10), 99_800.0)]  # any order
    result = loss_per_minute(samples, NOW)
    assert (result.peak_equity, result.peak_at, result.equity) == (100_000.0, ago(20), 98_900.0)
    assert result.loss_pct == pytest.approx(1.1)


def test_of_two_samples_at_the_same_time_the_later_one_given_is_current() -> None:
    assert loss_per_minute([(ago(5), 100.0), (ago(0), 99.5), (ago(0), 98.0)], NOW).equity == 98.0


def test_samples_after_now_are_ignored() -> None:
    result = loss_per_minute([(ago(30), 100.0), (ago(0), 100.0), (ago(-1), 50.0)], NOW)
    assert (result.loss_pct, result.breached) == (0.0, False)


def test_a_rising_equity_has_no_loss() -> None:
    result = loss_per_minute([(ago(30), 100.0), (ago(0), 120.0)], NOW)
    assert (result.loss_pct, result.peak_equity, result.breached) == (0.0, 120.0, False)


def test_without_a_sample_in_the_window_nothing_is_measured() -> None:
    result = loss_per_minute([(ago(61), 100.0)], NOW)
    assert result.loss_pct == 0.0
    assert result.peak_at is None
    assert not result.breached
    assert not loss_per_minute([], NOW).breached


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_an_equity_that_is_not_a_number_within_the_window_breaches(bad: float) -> None:
    result = loss_per_minute([(ago(30), bad), (ago(0), 100.0)], NOW)
    assert math.isnan(result.loss_pct)
    assert result.breached


def test_an_equity_that_is_not_a_number_outside_the_window_is_ignored() -> None:
    assert not loss_per_minute([(ago(90), math.nan), (ago(0), 100.0)], NOW).breached


def test_a_peak_that_is_not_positive_breaches() -> None:
    result = loss_per_minute([(ago(30), 0.0), (ago(0), -10.0)], NOW)
    assert math.isnan(result.loss_pct)
    assert result.breached


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        loss_per_minute([], datetime(2026, 3, 2, 14, 30))
    with pytest.raises(ValueError, match="timezone-aware"):
        loss_per_minute([(datetime(2026, 3, 2, 14, 30), 100.0)], NOW)


samples = st.lists(
    st.tuples(st.integers(min_value=0, max_value=60_000), st.floats(min_value=1.0, max_value=1e9)), max_size=20
).map(lambda rows: [(ago(ms / 1000), equity) for ms, equity in rows])
old_samples = st.lists(
    st.tuples(st.integers(min_value=60_001, max_value=10_000_000), st.floats(allow_nan=True, allow_infinity=True)),
    max_size=20,
).map(lambda rows: [(ago(ms / 1000), equity) for ms, equity in rows])


@given(samples, old_samples)
def test_samples_older_than_60_seconds_change_nothing(
    recent: list[tuple[datetime, float]], old: list[tuple[datetime, float]]
) -> None:
    assert loss_per_minute(recent + old, NOW) == loss_per_minute(recent, NOW)
    assert loss_per_minute(old + recent, NOW) == loss_per_minute(recent, NOW)


@given(samples)
def test_the_loss_is_a_share_of_the_peak_between_0_and_100_percent(recent: list[tuple[datetime, float]]) -> None:
    result = loss_per_minute(recent, NOW)
    assert 0.0 <= result.loss_pct < 100.0
    if abs(result.loss_pct - 1.0) > 1e-9:  # at 1 % itself, the 12-digit rule decides
        assert result.breached is (result.loss_pct > 1.0)


# --- day drawdown --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("equity", "drawdown_pct", "emergency"),
    [
        (103_000.0, -3.0, False),  # a gain is a negative drawdown
        (97_000.0, 3.0, False),  # no new entries is the guard's rule; here only the number
        (95_001.0, 4.999, False),
        (95_000.0, 5.0, True),  # "from 5 %"
        (94_999.0, 5.001, True),
    ],
)
def test_a_day_drawdown_from_5_percent_is_an_emergency(equity: float, drawdown_pct: float, emergency: bool) -> None:
    assert day_drawdown(100_000.0, equity) == DayDrawdown(pytest.approx(drawdown_pct), emergency)  # type: ignore[arg-type]


def test_a_drawdown_of_exactly_5_percent_in_decimal_money_is_not_lost_to_float_rounding() -> None:
    # 100 * (1.01 - 0.9595) is 5.049999999999999 in binary floats, yet 0.0505 is exactly 5 % of 1.01.
    assert day_drawdown(1.01, 0.9595).emergency


@pytest.mark.parametrize(("start", "equity"), [(0.0, 100.0), (-1.0, 100.0), (math.nan, 100.0), (100.0, math.inf)])
def test_a_drawdown_that_cannot_be_measured_is_an_emergency(start: float, equity: float) -> None:
    result = day_drawdown(start, equity)
    assert math.isnan(result.drawdown_pct)
    assert result.emergency


# --- losing positions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mark", "warned"),
    [(98.001, False), (98.0, True), (97.999, True), (102.0, False)],  # "down 2 %": -2.0 % warns
)
def test_a_position_down_2_percent_from_its_average_price_warns(mark: float, warned: bool) -> None:
    assert bool(position_warnings(["AAPL"], [100.0], [mark])) is warned


def test_each_symbol_is_judged_on_its_own_average_price_in_input_order() -> None:
    found = position_warnings(["MSFT", "AAPL", "NVDA"], [400.0, 200.0, 100.0], [391.0, 199.0, 97.0])
    assert found == (
        PositionWarning("MSFT", 400.0, 391.0, pytest.approx(-2.25), found[0].reason),  # type: ignore[arg-type]
        PositionWarning("NVDA", 100.0, 97.0, pytest.approx(-3.0), found[1].reason),  # type: ignore[arg-type]
    )
    assert found[0].reason == "MSFT is -2.25 % from its average price, at or past -2 %"


def test_a_position_down_exactly_2_percent_in_decimal_money_is_not_lost_to_float_rounding() -> None:
    # 100 * (1.01 - 0.9898) falls short of 2 * 1.01 in binary floats, yet 0.9898 is exactly 2 % below 1.01.
    assert position_warnings(["X"], [1.01], [0.9898])


@pytest.mark.parametrize(("avg", "mark"), [(math.nan, 100.0), (100.0, math.inf), (0.0, 100.0), (100.0, -1.0)])
def test_a_position_that_cannot_be_measured_warns(avg: float, mark: float) -> None:
    (warning,) = position_warnings(["X"], [avg], [mark])
    assert math.isnan(warning.return_pct)
    assert "fail closed" in warning.reason


def test_arrays_of_the_wrong_shape_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="like symbols"):
        position_warnings(["A", "B"], [100.0], [99.0, 98.0])
    assert position_warnings([], np.empty(0), np.empty(0)) == ()


# --- daily P&L target ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pnl", "share_pct", "reached"),
    [(799.99, 79.999, False), (800.0, 80.0, True), (800.01, 80.001, True), (-50.0, -5.0, False)],  # "from 80 %"
)
def test_80_percent_of_the_daily_target_informs(pnl: float, share_pct: float, reached: bool) -> None:
    assert daily_target_progress(pnl, 1_000.0) == TargetProgress(pytest.approx(share_pct), reached)  # type: ignore[arg-type]


def test_without_a_target_nothing_is_ever_reached() -> None:
    assert daily_target_progress(1e12, None) == TargetProgress(None, reached=False)


def test_a_pnl_that_is_not_a_number_reaches_nothing() -> None:
    assert not daily_target_progress(math.nan, 1_000.0).reached


@pytest.mark.parametrize("target", [0.0, -100.0, math.nan, math.inf])
def test_a_target_that_is_not_a_positive_amount_is_a_configuration_error(target: float) -> None:
    with pytest.raises(ValueError, match="target"):
        daily_target_progress(100.0, target)


# --- thresholds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"defensive_after_stop_losses": 0},
        {"defensive_after_stop_losses": 2.5},
        {"defensive_after_stop_losses": True},
        {"loss_per_minute_pct": math.nan},
        {"loss_per_minute_pct": -1.0},
        {"loss_window_s": 0.0},
        {"loss_window_s": math.inf},
        {"emergency_drawdown_pct": math.inf},
        {"position_warning_pct": 0.0},
        {"target_info_pct": -80.0},
    ],
)
def test_thresholds_that_make_no_sense_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(values))):
        LossThresholds(**values)  # type: ignore[arg-type]
