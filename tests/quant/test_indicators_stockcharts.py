"""Indicators reproduce StockCharts' worked examples (as bundled with the `ta` library) and agree with TA-Lib.

The worked examples print their values rounded to a few decimals, so agreement is to that rounding. TA-Lib is
compared on Stock.Indicators' SPY fixture where its conventions match ours; where they differ (OBV's first
bar, the bars TA-Lib leaves empty), the test says how.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from quant import indicators as ind

DATA = Path(__file__).resolve().parents[1] / "data"
STOCKCHARTS = DATA / "ta_stockcharts"
FloatArray = npt.NDArray[np.float64]


def _sheet(name: str) -> dict[str, FloatArray]:
    """The numeric columns of a worked example; blank cells are NaN."""
    with (STOCKCHARTS / name).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    numeric = [key for key in rows[0] if key not in ("", "Date")]
    return {key: np.array([float(row[key]) if row[key] else np.nan for row in rows]) for key in numeric}


def _agree_where_published(actual: FloatArray, published: FloatArray, atol: float) -> None:
    shown = ~np.isnan(published)
    assert not np.isnan(actual[shown]).any()
    np.testing.assert_allclose(actual[shown], published[shown], rtol=0, atol=atol)


# --- StockCharts worked examples ------------------------------------------------------------------------


def test_fast_stochastic_matches_the_stockcharts_worked_example() -> None:
    sheet = _sheet("cs-soo.csv")
    high, low, close = sheet["High"], sheet["Low"], sheet["Close"]
    # The sheet leaves the close blank on the first 13 bars, where only the highs and lows are used;
    # any finite value does there (it never enters %K at or after bar 13).
    close = np.where(np.isnan(close), (high + low) / 2, close)
    k, d = ind.stochastic(high, low, close, period=14, signal=3, smooth=1)
    _agree_where_published(k, sheet["SO"], atol=5e-7)  # printed to 6 decimals
    _agree_where_published(d, sheet["SO_SIG"], atol=1e-6)  # averaged from the printed, rounded %K
    assert np.isnan(sheet["SO"][:13]).all()
    assert not np.isnan(k[13:]).any()
    # The sheet starts %D one bar late: at bar 15 three %K values (13, 14, 15) already exist.
    assert np.isnan(sheet["SO_SIG"][15])
    assert d[15] == pytest.approx(k[13:16].mean(), rel=1e-12)


def test_obv_matches_the_stockcharts_worked_example() -> None:
    sheet = _sheet("cs-obv.csv")
    volume = sheet["Volume"].copy()
    volume[0] = 0.0  # blank on the first bar, whose volume OBV never uses
    result = ind.obv(sheet["Close"], volume)
    np.testing.assert_array_equal(result[1:], sheet["OBV"][1:])
    assert result[0] == 0.0


def test_vwap_matches_the_worked_example_from_its_start() -> None:
    sheet = _sheet("cs-vwap.csv")
    high, low, close, volume = sheet["High"], sheet["Low"], sheet["Close"], sheet["Volume"]
    # The sheet accumulates from its first bar for 14 bars, then rolls a 14-bar window.
    result = ind.vwap(high, low, close, volume)
    np.testing.assert_allclose(result[:14], sheet["vwap"][:14], rtol=1e-13)


def test_the_worked_examples_rolling_vwap_is_a_session_started_13_bars_earlier() -> None:
    sheet = _sheet("cs-vwap.csv")
    high, low, close, volume = sheet["High"], sheet["Low"], sheet["Close"], sheet["Volume"]
    for t in range(13, len(close)):
        window = slice(t - 13, t + 1)
        session = ind.vwap(high, low, close, volume, session_starts=[t - 13])
        assert session[t] == pytest.approx(sheet["vwap"][t], rel=1e-13)
        assert session[t] == pytest.approx(ind.vwap(high[window], low[window], close[window], volume[window])[-1])


def test_bollinger_bands_match_the_stockcharts_worked_example() -> None:
    sheet = _sheet("cs-bbands.csv")
    bands = ind.bollinger(sheet["Close"], 20, 2.0)
    for ours, published in [(bands.middle, "MiddleBand"), (bands.upper, "HighBand"), (bands.lower, "LowBand")]:
        _agree_where_published(ours, sheet[published], atol=5e-7)  # printed to 6 decimals


# --- TA-Lib on Stock.Indicators' SPY fixture -----------------------------------------------------------

talib = pytest.importorskip("talib")
_QUOTES = np.genfromtxt(DATA / "stockindicators_default_spy_2017_2018.csv", delimiter=",", skip_header=1)
HIGH, LOW, CLOSE, VOLUME = (np.ascontiguousarray(_QUOTES[:, i]) for i in (2, 3, 4, 5))


def _agree_where_talib_has_values(ours: FloatArray, theirs: FloatArray) -> None:
    # TA-Lib starts every output of a function at the function's full lookback, so its %K starts with
    # its %D (bar 17), two bars after ours; from there on the values must agree.
    defined = ~np.isnan(theirs)
    assert not np.isnan(ours[defined]).any()
    np.testing.assert_allclose(ours[defined], theirs[defined], rtol=1e-12, atol=1e-10)


def test_slow_stochastic_agrees_with_ta_lib_stoch() -> None:
    ours = ind.stochastic(HIGH, LOW, CLOSE, 14, 3, 3)
    slow_k, slow_d = talib.STOCH(HIGH, LOW, CLOSE, fastk_period=14, slowk_period=3, slowd_period=3)
    assert int(np.flatnonzero(~np.isnan(slow_d))[0]) == int(np.flatnonzero(~np.isnan(ours.d))[0]) == 17
    _agree_where_talib_has_values(ours.k, slow_k)
    _agree_where_talib_has_values(ours.d, slow_d)


def test_fast_stochastic_agrees_with_ta_lib_stochf() -> None:
    ours = ind.stochastic(HIGH, LOW, CLOSE, 14, 3, smooth=1)
    fast_k, fast_d = talib.STOCHF(HIGH, LOW, CLOSE, fastk_period=14, fastd_period=3)
    _agree_where_talib_has_values(ours.k, fast_k)
    _agree_where_talib_has_values(ours.d, fast_d)


def test_obv_is_ta_libs_minus_the_first_bars_volume() -> None:
    np.testing.assert_array_equal(ind.obv(CLOSE, VOLUME), talib.OBV(CLOSE, VOLUME) - VOLUME[0])


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: ind.rsi(CLOSE, 14), lambda: talib.RSI(CLOSE, 14)),
        (lambda: ind.ema(CLOSE, 20), lambda: talib.EMA(CLOSE, 20)),
        (lambda: ind.atr(HIGH, LOW, CLOSE, 14), lambda: talib.ATR(HIGH, LOW, CLOSE, 14)),
    ],
    ids=["rsi", "ema", "atr"],
)
def test_wilder_and_ema_seeding_agree_with_ta_lib_from_the_first_value(
    ours: Callable[[], FloatArray], theirs: Callable[[], FloatArray]
) -> None:
    mine, reference = ours(), theirs()
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(reference))
    np.testing.assert_allclose(mine, reference, rtol=1e-12)
