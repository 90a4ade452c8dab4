"""Indicators reproduce Stock.Indicators' published values on its own SPY fixture, and handle edges calmly."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from quant import indicators as ind

DATA = Path(__file__).resolve().parents[1] / "data"
FloatArray = npt.NDArray[np.float64]


def _columns(path: Path) -> dict[str, FloatArray]:
    header = path.read_text().splitlines()[0].split(",")
    table = np.genfromtxt(
        path, delimiter=",", skip_header=1, dtype=np.float64, missing_values="", filling_values=np.nan
    )
    return {name: table[:, i] for i, name in enumerate(header)}


QUOTES = _columns(DATA / "stockindicators_default_spy_2017_2018.csv")
EXPECTED = _columns(DATA / "expected_indicators_default_spy.csv")
OPEN, HIGH, LOW, CLOSE, VOLUME = (QUOTES[k] for k in ("open", "high", "low", "close", "volume"))


def test_fixture_is_the_502_bar_spy_file() -> None:
    assert len(CLOSE) == 502
    assert len(EXPECTED["rsi.rsi"]) == 502
    assert CLOSE[0] == 212.8


# --- the published spot values (ANSWER_KEYS.md) -------------------------------------------------------


@pytest.mark.parametrize(("index", "expected"), [(14, 62.0541), (249, 70.9368), (501, 42.0773)])
def test_rsi_matches_published_values(index: int, expected: float) -> None:
    assert round(ind.rsi(CLOSE, 14)[index], 4) == expected


@pytest.mark.parametrize(
    ("index", "line", "signal", "histogram"),
    [(49, 1.7203, 1.9675, -0.2472), (501, -6.2198, -5.8569, -0.3629)],
)
def test_macd_matches_published_values(index: int, line: float, signal: float, histogram: float) -> None:
    result = ind.macd(CLOSE, 12, 26, 9)
    assert [round(float(s[index]), 4) for s in result] == [line, signal, histogram]


@pytest.mark.parametrize(
    ("index", "middle", "upper", "lower"),
    [(249, 255.55, 259.5642, 251.5358), (501, 251.86, 273.7004, 230.0196)],
)
def test_bollinger_matches_published_values(index: int, middle: float, upper: float, lower: float) -> None:
    bands = ind.bollinger(CLOSE, 20, 2.0)
    assert [round(float(s[index]), 4) for s in bands] == [middle, upper, lower]


@pytest.mark.parametrize(("index", "expected"), [(14, 1.3364), (501, 6.1497)])
def test_atr_matches_published_values(index: int, expected: float) -> None:
    assert round(ind.atr(HIGH, LOW, CLOSE, 14)[index], 4) == expected


# --- the whole expected series ------------------------------------------------------------------------

_MACD = ind.macd(CLOSE)
_BANDS = ind.bollinger(CLOSE)
SERIES: dict[str, Callable[[], FloatArray]] = {
    "sma.sma": lambda: ind.sma(CLOSE, 20),
    "ema.ema": lambda: ind.ema(CLOSE, 20),
    "rsi.rsi": lambda: ind.rsi(CLOSE, 14),
    "macd.macd": lambda: _MACD.line,
    "macd.signal": lambda: _MACD.signal,
    "macd.histogram": lambda: _MACD.histogram,
    "macd.fastEma": lambda: ind.ema(CLOSE, 12),
    "macd.slowEma": lambda: ind.ema(CLOSE, 26),
    "bb.sma": lambda: _BANDS.middle,
    "bb.upperBand": lambda: _BANDS.upper,
    "bb.lowerBand": lambda: _BANDS.lower,
    "atr.tr": lambda: ind.true_range(HIGH, LOW, CLOSE),
    "tr.tr": lambda: ind.true_range(HIGH, LOW, CLOSE),
    "atr.atr": lambda: ind.atr(HIGH, LOW, CLOSE, 14),
    "stdev.stdDev": lambda: ind.rolling_std(CLOSE, 14, ddof=0),
}


@pytest.mark.parametrize("column", sorted(SERIES))
def test_whole_series_matches_stock_indicators_to_4_decimals(column: str) -> None:
    expected, actual = EXPECTED[column], SERIES[column]()
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{column}: warm-up differs")
    worst = float(np.nanmax(np.abs(actual - expected)))
    assert worst < 5e-5, f"{column}: max abs diff {worst:.3g}"


# --- panels (time, symbols) -----------------------------------------------------------------------------


def _panel(x: FloatArray) -> FloatArray:
    return np.column_stack([x, x * 1.5 + 3.0, x[::-1].copy()])


@pytest.mark.parametrize(
    "compute",
    [
        lambda x: ind.sma(x, 20),
        lambda x: ind.ema(x, 20),
        lambda x: ind.rsi(x),
        lambda x: ind.macd(x).signal,
        lambda x: ind.bollinger(x).lower,
        lambda x: ind.rolling_std(x, 10, ddof=1),
        lambda x: ind.volume_ratio(x, 20),
        lambda x: ind.rolling_volatility(x, 20),
    ],
)
def test_a_panel_is_computed_column_by_column_along_time(compute: Callable[[FloatArray], FloatArray]) -> None:
    panel = _panel(CLOSE)
    result = compute(panel)
    assert result.shape == panel.shape
    for column in range(panel.shape[1]):
        np.testing.assert_allclose(result[:, column], compute(panel[:, column]), rtol=1e-12, atol=1e-12)


def test_atr_on_a_panel_matches_each_symbol() -> None:
    result = ind.atr(_panel(HIGH), _panel(LOW), _panel(CLOSE))
    np.testing.assert_allclose(result[:, 0], ind.atr(HIGH, LOW, CLOSE), rtol=1e-12)


# --- edges ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "compute",
    [
        lambda x: ind.sma(x, 20),
        lambda x: ind.ema(x, 20),
        lambda x: ind.rsi(x, 14),
        lambda x: ind.macd(x).histogram,
        lambda x: ind.bollinger(x, 20).upper,
        lambda x: ind.atr(x + 1, x - 1, x, 14),
        lambda x: ind.volume_ratio(x, 20),
        lambda x: ind.rolling_volatility(x, 20),
        lambda x: ind.rolling_std(x, 20),
    ],
)
@pytest.mark.parametrize("length", [0, 1, 5, 14])
def test_series_shorter_than_the_warm_up_is_all_nan(compute: Callable[[FloatArray], FloatArray], length: int) -> None:
    x = CLOSE[:length]
    result = compute(x)
    assert result.shape == x.shape
    assert np.isnan(result).all()
    panel = compute(np.column_stack([x, x]))
    assert panel.shape == (length, 2)
    assert np.isnan(panel).all()


def test_nan_in_the_input_is_rejected_with_its_index() -> None:
    close = CLOSE.copy()
    close[17] = np.nan
    with pytest.raises(ValueError, match="close has NaN at index 17"):
        ind.rsi(close)
    with pytest.raises(ValueError, match=r"close has NaN at index \(17, 1\)"):
        ind.macd(np.column_stack([CLOSE, close]))


def test_infinity_in_the_input_is_rejected() -> None:
    high = HIGH.copy()
    high[3] = math.inf
    with pytest.raises(ValueError, match="high has an infinite value at index 3"):
        ind.atr(high, LOW, CLOSE)


@pytest.mark.parametrize("period", [0, -3, 2.5])
def test_invalid_period_is_rejected(period: float) -> None:
    with pytest.raises(ValueError, match="period"):
        ind.sma(CLOSE, period)  # type: ignore[arg-type]


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="one shape"):
        ind.atr(HIGH, LOW[:-1], CLOSE)


def test_ema_equals_the_textbook_recursion() -> None:
    x = np.random.default_rng(7).normal(100, 5, 300)
    expected = np.full(300, np.nan)
    expected[9] = x[:10].mean()
    for t in range(10, 300):
        expected[t] = expected[t - 1] + 2 / 11 * (x[t] - expected[t - 1])
    np.testing.assert_allclose(ind.ema(x, 10), expected, rtol=1e-12)


def test_rsi_is_neutral_on_a_flat_series_and_100_when_only_rising() -> None:
    assert ind.rsi(np.full(30, 50.0))[-1] == 50.0
    assert ind.rsi(np.arange(1.0, 31.0))[-1] == 100.0


def test_volume_ratio_excludes_the_current_bar() -> None:
    volume = np.array([10.0, 10.0, 10.0, 40.0, 10.0])
    np.testing.assert_array_equal(ind.volume_ratio(volume, 3), [np.nan, np.nan, np.nan, 4.0, 0.5])


def test_volume_ratio_is_nan_when_the_baseline_is_zero() -> None:
    assert np.isnan(ind.volume_ratio(np.array([0.0, 0.0, 5.0]), 2)[-1])


def test_rolling_volatility_is_the_annualised_sample_deviation_of_log_returns() -> None:
    returns = np.diff(np.log(CLOSE))
    expected = np.std(returns[-20:], ddof=1) * math.sqrt(252)
    result = ind.rolling_volatility(CLOSE, 20, 252)
    assert result[-1] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(result[:20]).all()
    assert np.isfinite(result[20:]).all()


def test_rolling_volatility_rejects_a_non_positive_close() -> None:
    close = CLOSE.copy()
    close[5] = 0.0
    with pytest.raises(ValueError, match="positive"):
        ind.rolling_volatility(close)


def test_rolling_windows_stay_exact_over_a_long_drifting_series() -> None:
    rng = np.random.default_rng(3)
    x = 10_000.0 + np.cumsum(rng.normal(0.05, 1.0, 200_000))
    windows = sliding_window_view(x, 30)
    np.testing.assert_allclose(ind.sma(x, 30)[29:], windows.mean(axis=-1), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ind.rolling_std(x, 30)[29:], windows.std(axis=-1), rtol=0, atol=1e-9)


@pytest.mark.parametrize("period", [1, 2, 3, 7])
@pytest.mark.parametrize("length", [7, 8, 23])
def test_rolling_windows_match_explicit_windows_at_every_length(period: int, length: int) -> None:
    x = np.random.default_rng(length).normal(50, 3, length)
    windows = sliding_window_view(x, period)
    np.testing.assert_allclose(ind.sma(x, period)[period - 1 :], windows.mean(axis=-1), atol=1e-12)
    np.testing.assert_allclose(ind.rolling_std(x, period)[period - 1 :], windows.std(axis=-1), atol=1e-12)


def test_constant_series_has_zero_deviation_not_rounding_noise() -> None:
    bands = ind.bollinger(np.full(100, 123.45), 20)
    np.testing.assert_array_equal(bands.upper[19:], bands.lower[19:])
