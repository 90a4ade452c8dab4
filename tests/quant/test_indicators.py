"""Indicators reproduce Stock.Indicators' published values on its own SPY fixture, and handle edges calmly."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

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
    "stoch.oscillator": lambda: ind.stochastic(HIGH, LOW, CLOSE, 14, 3, 3).k,
    "stoch.signal": lambda: ind.stochastic(HIGH, LOW, CLOSE, 14, 3, 3).d,
    "obv.obv": lambda: ind.obv(CLOSE, VOLUME),
    "vwap.vwap": lambda: ind.vwap(HIGH, LOW, CLOSE, VOLUME),
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


@pytest.mark.parametrize(
    "compute",
    [
        lambda h, lo, c, v: ind.stochastic(h, lo, c).k,
        lambda h, lo, c, v: ind.stochastic(h, lo, c, smooth=1).d,
        lambda h, lo, c, v: ind.obv(c, v),
        lambda h, lo, c, v: ind.vwap(h, lo, c, v, session_starts=[0, 100, 250]),
    ],
)
def test_multi_input_indicators_on_a_panel_match_each_symbol(compute: Callable[..., FloatArray]) -> None:
    panels = [_panel(x) for x in (HIGH, LOW, CLOSE)] + [np.column_stack([VOLUME, VOLUME * 2.0, VOLUME[::-1]])]
    result = compute(*panels)
    assert result.shape == panels[0].shape
    for column in range(3):
        expected = compute(*(p[:, column] for p in panels))
        np.testing.assert_allclose(result[:, column], expected, rtol=1e-12, atol=1e-12)


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
        lambda x: ind.stochastic(x + 1, x - 1, x).k,
        lambda x: ind.stochastic(x + 1, x - 1, x).d,
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


# --- stochastic, OBV, VWAP ------------------------------------------------------------------------------


def test_slow_stochastic_starts_after_its_smoothing_and_fast_stochastic_is_the_raw_position() -> None:
    slow, fast = ind.stochastic(HIGH, LOW, CLOSE, 14, 3, 3), ind.stochastic(HIGH, LOW, CLOSE, 14, 3, 1)
    assert [_first_value(s) for s in (slow.k, slow.d, fast.k, fast.d)] == [15, 17, 13, 15]
    t = 40
    highest, lowest = HIGH[t - 13 : t + 1].max(), LOW[t - 13 : t + 1].min()
    assert fast.k[t] == pytest.approx(100 * (CLOSE[t] - lowest) / (highest - lowest), rel=1e-12)
    assert slow.k[t] == pytest.approx(fast.k[t - 2 : t + 1].mean(), rel=1e-12)
    assert slow.d[t] == pytest.approx(slow.k[t - 2 : t + 1].mean(), rel=1e-12)


def test_stochastic_of_an_empty_range_is_zero_as_in_stock_indicators_and_ta_lib() -> None:
    flat = np.full(30, 50.0)
    k, d = ind.stochastic(flat, flat, flat)
    assert (k[15:] == 0.0).all()
    assert (d[17:] == 0.0).all()


def test_obv_adds_volume_on_up_closes_subtracts_on_down_closes_and_ignores_unchanged_ones() -> None:
    close = np.array([10.0, 11.0, 11.0, 10.5, 12.0])
    volume = np.array([999.0, 100.0, 50.0, 30.0, 20.0])
    np.testing.assert_array_equal(ind.obv(close, volume), [0.0, 100.0, 100.0, 70.0, 90.0])
    assert ind.obv(close[:1], volume[:1]).tolist() == [0.0]
    assert ind.obv(close[:0], volume[:0]).shape == (0,)


def test_vwap_is_the_cumulative_typical_price_weighted_by_volume() -> None:
    typical = (HIGH + LOW + CLOSE) / 3
    result = ind.vwap(HIGH, LOW, CLOSE, VOLUME)
    assert result[0] == pytest.approx(typical[0], rel=1e-15)
    assert result[200] == pytest.approx(np.sum(typical[:201] * VOLUME[:201]) / np.sum(VOLUME[:201]), rel=1e-12)


def test_vwap_restarts_at_each_session_given_as_indices_or_as_a_mask() -> None:
    starts = [0, 100, 250]
    mask = np.zeros(len(CLOSE), dtype=bool)
    mask[[100, 250]] = True  # bar 0 always starts a session
    by_index, by_mask = ind.vwap(HIGH, LOW, CLOSE, VOLUME, starts), ind.vwap(HIGH, LOW, CLOSE, VOLUME, mask)
    np.testing.assert_array_equal(by_index, by_mask)
    for first, last in [(0, 100), (100, 250), (250, len(CLOSE))]:
        alone = ind.vwap(HIGH[first:last], LOW[first:last], CLOSE[first:last], VOLUME[first:last])
        np.testing.assert_allclose(by_index[first:last], alone, rtol=1e-12)


def test_vwap_resets_every_trading_day_on_real_one_minute_bars() -> None:
    path = DATA / "stockindicators_spy_1m_20201215_20201218.csv"
    days = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(0,), dtype="U10")
    bars = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(2, 3, 4, 5))
    session_starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    assert session_starts.tolist() == [0, 391, 782, 1173]
    high, low, close, volume = bars.T
    result = ind.vwap(high, low, close, volume, session_starts=session_starts)
    for first, last in zip(session_starts, [*session_starts[1:], len(days)], strict=True):
        h, lo, c, v = bars[first:last].T
        assert result[first] == pytest.approx((h[0] + lo[0] + c[0]) / 3, rel=1e-15)
        assert result[last - 1] == pytest.approx(np.sum((h + lo + c) / 3 * v) / v.sum(), rel=1e-12)


def test_vwap_is_nan_until_the_session_trades_and_rejects_negative_volume() -> None:
    price = np.array([10.0, 11.0, 12.0, 13.0])
    result = ind.vwap(price, price, price, np.array([0.0, 0.0, 5.0, 5.0]))
    np.testing.assert_array_equal(result, [np.nan, np.nan, 12.0, 12.5])
    with pytest.raises(ValueError, match=r"volume must be non-negative, got -1\.0 at index 2"):
        ind.vwap(price, price, price, np.array([1.0, 1.0, -1.0, 1.0]))


@pytest.mark.parametrize(
    ("session_starts", "message"),
    [([0, 4], r"lie in \[0, 4\)"), ([-1], r"lie in \[0, 4\)"), (np.ones(3, dtype=bool), "one entry per bar"),
     ([0.0, 2.0], "boolean mask or integer indices"), ([[0, 2]], "1-D")],
)  # fmt: skip
def test_malformed_session_starts_are_rejected(session_starts: npt.ArrayLike, message: str) -> None:
    price = np.arange(1.0, 5.0)
    with pytest.raises(ValueError, match=message):
        ind.vwap(price, price, price, price, session_starts)


# --- long series: the blocked smoother ------------------------------------------------------------------


def _random_walk(n: int, seed: int = 11) -> tuple[FloatArray, FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    reach = np.abs(rng.normal(0.0, 0.004, (2, n))) * close
    return close + reach[0], close - reach[1], close


def _plain_recursion(x: FloatArray, period: int, alpha: float) -> FloatArray:
    """The seeded smoother one row at a time with lfilter: the reference for the blocked form."""
    out = np.full(len(x), np.nan)
    out[period - 1] = x[:period].mean()
    out[period:] = lfilter([alpha], [1.0, alpha - 1.0], x[period:], zi=[(1.0 - alpha) * out[period - 1]])[0]
    return out


@pytest.mark.parametrize("length", [8_191, 8_192 + 14, 8_192 + 15, 16_384 + 16 + 14, 16_384 * 3 + 7, 200_000])
def test_long_series_smoothers_equal_the_plain_recursion(length: int) -> None:
    high, low, close = _random_walk(length)
    np.testing.assert_allclose(ind.ema(close, 20), _plain_recursion(close, 20, 2 / 21), rtol=1e-13)
    tr = ind.true_range(high, low, close)
    expected_atr = np.r_[np.nan, _plain_recursion(tr[1:], 14, 1 / 14)]
    np.testing.assert_allclose(ind.atr(high, low, close, 14), expected_atr, rtol=1e-12)
    change = np.diff(close)
    gain = _plain_recursion(np.maximum(change, 0.0), 14, 1 / 14)
    loss = _plain_recursion(np.maximum(-change, 0.0), 14, 1 / 14)
    np.testing.assert_allclose(ind.rsi(close, 14)[1:], 100 * gain / (gain + loss), rtol=0, atol=1e-10)
    line = _plain_recursion(close, 12, 2 / 13) - _plain_recursion(close, 26, 2 / 27)
    result = ind.macd(close, 12, 26, 9)
    np.testing.assert_allclose(result.line, line, rtol=0, atol=1e-11)
    np.testing.assert_allclose(result.signal[25:], _plain_recursion(line[25:], 9, 0.2), rtol=0, atol=1e-11)


def test_a_long_panel_matches_its_columns() -> None:
    close = np.column_stack([_random_walk(20_000, seed)[2] for seed in (1, 2)])
    # A long 1-D MACD line is one two-pole pass; a panel subtracts two EMAs: equal to rounding (prices ~100).
    np.testing.assert_allclose(ind.macd(close).signal[:, 1], ind.macd(close[:, 1]).signal, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ind.rsi(close)[:, 0], ind.rsi(close[:, 0]), rtol=1e-12)


def test_long_rsi_stays_within_0_and_100_and_is_exactly_100_when_only_rising() -> None:
    close = _random_walk(100_000)[2]
    result = ind.rsi(close)[14:]
    assert result.min() >= 0.0
    assert result.max() <= 100.0
    assert (ind.rsi(np.arange(1.0, 50_001.0))[14:] == 100.0).all()


def test_long_atr_uses_the_true_range_definition_on_a_bar_with_high_below_low() -> None:
    high, low, close = _random_walk(50_000)
    high[30_000], low[30_000] = low[30_000], high[30_000]  # corrupt: high < low
    tr = ind.true_range(high, low, close)
    expected = np.r_[np.nan, _plain_recursion(tr[1:], 14, 1 / 14)]
    np.testing.assert_allclose(ind.atr(high, low, close), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "index", "message"),
    [("high", 0, "high has NaN at index 0"), ("low", 40_001, "low has NaN at index 40001"),
     ("close", 49_999, "close has NaN at index 49999"), ("close", 3, "close has NaN at index 3")],
)  # fmt: skip
def test_long_atr_still_names_the_first_non_finite_input(name: str, index: int, message: str) -> None:
    high, low, close = _random_walk(50_000)
    {"high": high, "low": low, "close": close}[name][index] = np.nan
    with pytest.raises(ValueError, match=message):
        ind.atr(high, low, close)


def test_long_atr_checks_inputs_in_argument_order_like_the_short_path() -> None:
    high, low, close = _random_walk(50_000)
    close[5], high[40_000] = np.inf, np.nan
    with pytest.raises(ValueError, match="high has NaN at index 40000"):
        ind.atr(high, low, close)


def _first_value(x: FloatArray) -> int:
    return int(np.flatnonzero(~np.isnan(x))[0])


# --- long series: deferred finiteness checks and the block engine --------------------------------------


@pytest.mark.parametrize(
    ("compute", "name"),
    [
        (lambda x: ind.ema(x, 20), "x"),
        (lambda x: ind.rsi(x, 14), "close"),
        (lambda x: ind.macd(x, 12, 26, 9).histogram, "close"),
    ],
)
@pytest.mark.parametrize(
    ("index", "value", "kind"),
    [(0, np.nan, "NaN"), (5, -np.inf, "an infinite value"), (30_000, np.inf, "an infinite value"),
     (49_999, np.nan, "NaN"), (49_999, -np.inf, "an infinite value")],
)  # fmt: skip
def test_long_series_still_name_the_first_non_finite_input(
    compute: Callable[[FloatArray], FloatArray], name: str, index: int, value: float, kind: str
) -> None:
    # Long 1-D series are checked on the result (NaN and infinity propagate to the last value) and scanned
    # only then: the message must be the one the up-front check gives, with no warnings on the way.
    close = _random_walk(50_000)[2]
    close[index] = value
    if index < 40_000:
        close[40_000] = np.nan  # a later bad value: the first one is named
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=rf"{name} has {kind} at index {index}$"):
            compute(close)


def test_long_rsi_is_neutral_after_a_flat_stretch_long_enough_to_forget_every_move() -> None:
    # (13/14) ** k underflows to zero after about 10,000 bars: the smoothed total move is exactly zero there.
    close = np.concatenate([_random_walk(20_000)[2], np.full(30_000, 100.0), _random_walk(20_000, seed=5)[2]])
    result = ind.rsi(close, 14)
    change = np.diff(close)
    gain = _plain_recursion(np.maximum(change, 0.0), 14, 1 / 14)
    total = _plain_recursion(np.abs(change), 14, 1 / 14)
    assert (result[35_000:50_000] == 50.0).all()
    # Where the averages are subnormal their ratio is rounding noise in any implementation: compare elsewhere.
    normal = np.r_[False, total > 1e-290]
    np.testing.assert_allclose(result[normal], 100 * (gain / total)[normal[1:]], rtol=0, atol=1e-10)
    assert normal[:20_000].sum() == 20_000 - 14 and normal[-20_000:].all()


@pytest.mark.parametrize(("fast", "slow", "signal"), [(26, 12, 9), (12, 12, 9), (5, 35, 1), (2, 3, 2)])
def test_long_macd_with_unusual_periods_equals_the_plain_recursion(fast: int, slow: int, signal: int) -> None:
    close = _random_walk(40_000 + 7)[2]
    start = max(fast, slow) - 1
    line = _plain_recursion(close, fast, 2 / (fast + 1)) - _plain_recursion(close, slow, 2 / (slow + 1))
    result = ind.macd(close, fast, slow, signal)
    np.testing.assert_allclose(result.line, line, rtol=0, atol=1e-11)
    expected_signal = np.r_[np.full(start, np.nan), _plain_recursion(line[start:], signal, 2 / (signal + 1))]
    np.testing.assert_allclose(result.signal, expected_signal, rtol=0, atol=1e-11)
    np.testing.assert_array_equal(result.histogram, result.line - result.signal)


def test_long_series_with_period_one_are_the_plain_definitions() -> None:
    high, low, close = _random_walk(20_000)
    np.testing.assert_array_equal(ind.atr(high, low, close, 1), ind.true_range(high, low, close))
    np.testing.assert_array_equal(ind.ema(close, 1), close)
    change = np.diff(close)
    expected = np.where(change > 0, 100.0, np.where(change < 0, 0.0, 50.0))
    np.testing.assert_array_equal(ind.rsi(close, 1)[1:], expected)


def _reference_filter(x: FloatArray, transition: FloatArray, gain: FloatArray, outputs: FloatArray, state: FloatArray):
    """The state-space recursion one row at a time (by ``lfilter``): the reference for the block engine.

    With a lower-triangular transition, state ``k`` is a first-order recursion driven by the input and the
    earlier states' previous rows, which are known by then."""
    states = np.empty((len(state), len(x)))
    for k in range(len(state)):
        drive = gain[k] * x
        for j in range(k):
            drive += transition[k, j] * np.r_[state[j], states[j, :-1]]
        decay = transition[k, k]
        states[k] = lfilter([1.0], [1.0, -decay], drive, zi=[decay * state[k]])[0]
    return outputs @ states


def _macd_filter() -> tuple[FloatArray, FloatArray, FloatArray]:
    a_f, a_s, a_g = 2 / 13, 2 / 27, 0.2  # MACD's three states: fast EMA, slow EMA, signal
    transition = np.array([[1 - a_f, 0, 0], [0, 1 - a_s, 0], [a_g * (1 - a_f), -a_g * (1 - a_s), 1 - a_g]])
    return transition, np.array([a_f, a_s, a_g * (a_f - a_s)]), np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])


def _two_pole_filter() -> tuple[FloatArray, FloatArray, FloatArray]:
    # Two states (an even count: no padding column), both output, the second driven by the first.
    transition = np.array([[0.9, 0.0], [0.05, 0.8]])
    return transition, np.array([0.1, 0.02]), np.eye(2)


def _one_pole_filter() -> tuple[FloatArray, FloatArray, FloatArray]:
    return np.array([[13 / 14]]), np.array([1 / 14]), np.array([[1.0]])


_CHUNK = 15_360 * 8  # _smoothing.CHUNK_ROWS, spelled out so that a change to it is a visible decision


@pytest.mark.parametrize("make_filter", [_macd_filter, _two_pole_filter, _one_pole_filter])
@pytest.mark.parametrize("store", [True, False])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 17, 65, _CHUNK - 1, _CHUNK, _CHUNK + 1, _CHUNK + 8 + 5, 2 * _CHUNK + 64])
def test_the_block_engine_equals_the_row_by_row_recursion(
    make_filter: Callable[[], tuple[FloatArray, FloatArray, FloatArray]], store: bool, n: int
) -> None:
    from quant.indicators import _smoothing

    assert _smoothing.CHUNK_ROWS == _CHUNK
    transition, gain, outputs = make_filter()
    filt = _smoothing.block_filter(tuple(map(tuple, transition)), tuple(gain), tuple(map(tuple, outputs)))
    m = len(gain)
    channels = [_random_walk(n, seed)[2] for seed in (1, 2)]
    initials = [[101.0, 99.0, 0.5][:m], [100.0, 100.0, -0.25][:m]]
    dests = [[np.full(n, np.nan) for _ in outputs] for _ in channels]
    finished = []

    def finish(chunk: _smoothing.Chunk) -> None:
        finished.append((chunk.first, chunk.last))
        for ch, row in enumerate(chunk.outputs):
            for o, rows in enumerate(row):
                np.testing.assert_array_equal(rows, dests[ch][o][chunk.first : chunk.last])

    _smoothing.run_blocked(lambda i, j: [x[i:j] for x in channels], n, filt, initials, dests, finish, store=store)
    for x, initial, result in zip(channels, initials, dests, strict=True):
        expected = _reference_filter(x, transition, gain, outputs, np.array(initial))
        np.testing.assert_allclose(np.array(result), expected, rtol=0, atol=1e-11)
    assert finished[0][0] == 0
    assert finished[-1][1] == n


def test_block_matrices_keep_only_the_states_each_output_is_carried_from() -> None:
    from quant.indicators import _smoothing

    transition, gain, outputs = _macd_filter()
    filt = _smoothing.block_filter(tuple(map(tuple, transition)), tuple(gain), tuple(map(tuple, outputs)))
    # The line (fast - slow) is carried from two states, the signal from all three; the ends get an even width.
    assert [carry.shape for carry in filt.carries] == [(8, 2), (8, 3)]
    assert all(carry.flags.f_contiguous for carry in filt.carries)
    assert filt.end_weights.shape == (8, 4) and not filt.end_weights[:, 3].any()
    one = _smoothing.single_pole(1 / 14)
    assert one.carries[0].shape == (8, 1) and one.state_is_output


def test_each_chunk_product_stays_within_openblas_single_threaded_small_kernel() -> None:
    from quant.indicators import _smoothing

    # OpenBLAS runs products of at most 10**6 multiply-adds with its small-matrix kernel, on the calling thread;
    # beyond that it may start threads, and timings would depend on the other cores' load.
    blocks = _smoothing.CHUNK_ROWS // _smoothing._BLOCK
    assert _smoothing.CHUNK_ROWS % _smoothing._BLOCK == 0
    assert blocks * _smoothing._BLOCK * _smoothing._BLOCK <= 10**6


def test_the_block_ends_recursion_stays_exact_when_itself_blocked_twice() -> None:
    from quant.indicators import _smoothing

    u = np.random.default_rng(4).normal(0.0, 1.0, (2, 16 * 9_000))  # 144,000 ends: two levels of blocks
    out = np.empty_like(u)
    _smoothing.first_order(u, 0.97, np.array([3.0, -2.0]), out)
    expected = lfilter([1.0], [1.0, -0.97], u, axis=1, zi=[[0.97 * 3.0], [0.97 * -2.0]])[0]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
