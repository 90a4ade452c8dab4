"""Performance metrics: ffn's published numbers on its own data, then each definition on small curves."""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quant.metrics import (
    annualised_volatility,
    bar_years,
    cagr,
    calendar_years,
    calmar_ratio,
    drawdown,
    exposure,
    max_drawdown,
    performance_metrics,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
    total_return,
    trade_statistics,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _ffn_data() -> tuple[list[date], dict[str, np.ndarray]]:
    with (DATA / "ffn_test_data.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    dates = [date(int(y), int(m), int(d)) for m, d, y in (row[0].split("/") for row in body)]
    columns = {name: np.array([float(row[i]) for row in body]) for i, name in enumerate(header) if i > 0}
    return dates, columns


FFN_DATES, FFN = _ffn_data()


# --- ffn's answer key -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "expected"), [("AAPL", 0.440), ("MSFT", 0.041), ("C", -0.205)])
def test_cagr_over_the_whole_ffn_file_matches_ffn(symbol: str, expected: float) -> None:
    years = calendar_years(FFN_DATES[0], FFN_DATES[-1])
    assert round(cagr(FFN[symbol], years), 3) == expected


def test_max_drawdown_over_the_first_ten_ffn_rows_of_aapl_matches_ffn() -> None:
    assert round(max_drawdown(FFN["AAPL"][:10]), 3) == -0.086


def test_calendar_years_count_days_over_365_25_like_ffn() -> None:
    assert calendar_years(date(2004, 3, 10), date(2014, 3, 10)) == pytest.approx(3652 / 365.25)
    assert calendar_years(date(2020, 1, 1), date(2020, 1, 1)) == 0.0
    with pytest.raises(ValueError, match="before start"):
        calendar_years(date(2020, 1, 2), date(2020, 1, 1))


def test_bar_years_count_intervals_between_bars() -> None:
    assert bar_years(253) == 1.0
    assert bar_years(1) == 0.0
    assert bar_years(13, periods_per_year=12) == 1.0
    with pytest.raises(ValueError, match="n_bars"):
        bar_years(0)


# --- returns, growth, risk ------------------------------------------------------------------------------


def test_total_return_and_cagr_of_a_doubling() -> None:
    equity = [100.0, 150.0, 200.0]
    assert total_return(equity) == pytest.approx(1.0)
    assert cagr(equity, years=2.0) == pytest.approx(math.sqrt(2.0) - 1.0)
    assert math.isnan(cagr(equity, years=0.0))


def test_volatility_is_the_sample_deviation_of_returns_annualised() -> None:
    equity = np.array([100.0, 101.0, 99.0, 102.0, 102.5])
    returns = simple_returns(equity)
    assert returns == pytest.approx([0.01, 99 / 101 - 1, 102 / 99 - 1, 102.5 / 102 - 1])
    assert annualised_volatility(equity) == pytest.approx(np.std(returns, ddof=1) * math.sqrt(252))


def test_sharpe_is_mean_over_sample_deviation_annualised_and_falls_with_the_risk_free_rate() -> None:
    equity = np.array([100.0, 101.0, 99.0, 102.0, 102.5, 104.0])
    r = simple_returns(equity)
    assert sharpe_ratio(equity) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    per_bar = 1.05 ** (1 / 252) - 1
    assert sharpe_ratio(equity, risk_free_rate=0.05) == pytest.approx(
        (r - per_bar).mean() / r.std(ddof=1) * math.sqrt(252)
    )
    assert sharpe_ratio(equity, risk_free_rate=0.05) < sharpe_ratio(equity)


def test_sortino_divides_by_the_downside_deviation() -> None:
    equity = np.array([100.0, 102.0, 101.0, 104.0, 103.0])
    r = simple_returns(equity)
    downside = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    assert sortino_ratio(equity) == pytest.approx(r.mean() / downside * math.sqrt(252))
    assert sortino_ratio(equity) > sharpe_ratio(equity)


def test_ratios_are_nan_when_undefined() -> None:
    steady = 100.0 * 1.001 ** np.arange(10)  # returns do not vary, never fall
    assert math.isnan(sharpe_ratio(steady))
    assert math.isnan(sortino_ratio(steady))
    assert math.isnan(annualised_volatility([100.0, 101.0]))  # one return: no sample deviation
    assert math.isnan(sharpe_ratio([100.0]))


def test_max_drawdown_is_negative_from_the_running_peak_and_zero_without_a_fall() -> None:
    equity = [100.0, 120.0, 90.0, 130.0, 117.0]
    assert drawdown(equity) == pytest.approx([0.0, 0.0, -0.25, 0.0, -0.1])
    assert max_drawdown(equity) == pytest.approx(-0.25)
    assert max_drawdown([100.0, 101.0, 105.0]) == 0.0


def test_calmar_is_cagr_over_the_size_of_the_drawdown() -> None:
    assert calmar_ratio(0.10, -0.25) == pytest.approx(0.4)
    assert math.isnan(calmar_ratio(0.10, 0.0))


def test_equity_must_be_a_positive_finite_series() -> None:
    for bad in ([], [100.0, math.nan], [100.0, -1.0], [100.0, 0.0], [[100.0]]):
        with pytest.raises(ValueError, match="equity"):
            total_return(bad)


# --- trades and exposure --------------------------------------------------------------------------------


def test_trade_statistics_of_wins_losses_and_a_scratch() -> None:
    stats = trade_statistics([100.0, -50.0, 0.0, 30.0])
    assert stats.trades == 4
    assert stats.win_rate == 0.5  # the scratch trade is not a win
    assert stats.profit_factor == pytest.approx(130.0 / 50.0)
    assert stats.average_win == pytest.approx(65.0)
    assert stats.average_loss == pytest.approx(-50.0)


def test_trade_statistics_without_losses_or_trades() -> None:
    assert trade_statistics([10.0, 5.0]).profit_factor == math.inf
    assert math.isnan(trade_statistics([10.0]).average_loss)
    empty = trade_statistics([])
    assert empty.trades == 0
    assert math.isnan(empty.win_rate)
    assert math.isnan(empty.profit_factor)


def test_exposure_is_the_share_of_bars_ending_with_a_position() -> None:
    positions = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    assert exposure(positions) == 0.5
    assert exposure([0.0, 1.0, 1.0, 1.0]) == 0.75


def test_performance_metrics_collects_every_metric() -> None:
    equity = np.array([100.0, 110.0, 99.0, 121.0])
    result = performance_metrics(
        equity, years=1.0, trade_pnl=[10.0, -11.0, 22.0], positions=[[0.0], [1.0], [1.0], [0.0]]
    )
    assert result.total_return == pytest.approx(0.21)
    assert result.cagr == pytest.approx(0.21)
    assert result.max_drawdown == pytest.approx(-0.1)
    assert result.calmar == pytest.approx(2.1)
    assert result.exposure == 0.5
    assert result.trades.trades == 3
    assert result.sharpe == pytest.approx(sharpe_ratio(equity))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=1.5), min_size=1, max_size=60), st.floats(0.1, 30.0))
def test_drawdown_is_within_minus_one_and_zero_and_cagr_compounds_back(factors: list[float], years: float) -> None:
    equity = 100.0 * np.cumprod(factors)
    assert -1.0 < max_drawdown(equity) <= 0.0
    growth = cagr(equity, years)
    assume(1.0 + growth > 1e-12)  # a loss so deep over so short a time that the rate underflows to -100 %
    # Compared in log space: when the curve nearly vanishes, 1 + growth keeps only a few significant digits.
    assert years * math.log1p(growth) == pytest.approx(math.log(equity[-1] / equity[0]), rel=1e-9, abs=1e-5)
