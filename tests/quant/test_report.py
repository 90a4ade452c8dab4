"""The quant report: last-bar indicator values, trend, flags, and a JSON-safe view."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from quant import indicators as ind
from quant.report import build_report

DATA = Path(__file__).resolve().parents[1] / "data"
_TABLE = np.genfromtxt(DATA / "stockindicators_default_spy_2017_2018.csv", delimiter=",", skip_header=1)
OHLCV = tuple(_TABLE[:, i] for i in range(1, 6))
OPEN, HIGH, LOW, CLOSE, VOLUME = OHLCV


def _flat(n: int, price: float = 100.0) -> tuple[npt.NDArray[np.float64], ...]:
    close = np.full(n, price)
    return close, close + 1.0, close - 1.0, close, np.full(n, 1_000.0)


def test_report_reads_the_last_value_of_each_indicator() -> None:
    report = build_report("SPY", *OHLCV)
    macd = ind.macd(CLOSE)
    assert report.bars_used == 502
    assert report.last_close == CLOSE[-1]
    assert report.return_1d_pct == pytest.approx((CLOSE[-1] / CLOSE[-2] - 1) * 100)
    assert report.sma_fast == pytest.approx(ind.sma(CLOSE, 20)[-1])
    assert report.sma_slow == pytest.approx(ind.sma(CLOSE, 50)[-1])
    assert round(report.rsi, 4) == 42.0773
    assert (round(report.macd, 4), round(report.macd_signal, 4), round(report.macd_histogram, 4)) == (
        -6.2198,
        -5.8569,
        -0.3629,
    )
    assert report.macd == macd.line[-1]
    assert round(report.atr, 4) == 6.1497
    assert report.atr_pct == pytest.approx(report.atr / CLOSE[-1] * 100)
    assert report.volume_ratio == pytest.approx(VOLUME[-1] / VOLUME[-21:-1].mean())
    assert report.volatility_annual == pytest.approx(ind.rolling_volatility(CLOSE)[-1])
    assert "insufficient_history" not in report.flags


def test_report_uses_only_data_up_to_the_last_bar() -> None:
    full = build_report("SPY", *OHLCV)
    cut = build_report("SPY", *(a[:300] for a in OHLCV))
    assert cut.last_close == CLOSE[299]
    assert cut.rsi == pytest.approx(ind.rsi(CLOSE)[299])
    assert cut.rsi != full.rsi


def test_late_2018_spy_is_in_a_downtrend() -> None:
    assert build_report("SPY", *OHLCV).trend == "down"


@pytest.mark.parametrize(
    ("fast_over_slow", "trend"), [(1.0015, "up"), (0.9985, "down"), (1.0005, "flat"), (0.9995, "flat")]
)
def test_trend_has_a_dead_band_of_a_tenth_of_a_percent(fast_over_slow: float, trend: str) -> None:
    # With fast=1 and slow=2, sma_fast / sma_slow = 2 L / (100 + L); solve for the last close L.
    last = fast_over_slow * 100.0 / (2.0 - fast_over_slow)
    close = np.array([100.0, last])
    report = build_report("X", close, close, close, close, np.ones(2), fast=1, slow=2)
    assert report.sma_fast / report.sma_slow == pytest.approx(fast_over_slow)
    assert report.trend == trend


def test_trend_reads_up_down_and_flat_on_clean_series() -> None:
    rising = np.linspace(100.0, 150.0, 80)
    assert build_report("X", rising, rising, rising, rising, np.ones(80)).trend == "up"
    assert build_report("X", rising[::-1], rising[::-1], rising[::-1], rising[::-1], np.ones(80)).trend == "down"
    assert build_report("X", *_flat(80)).trend == "flat"


def test_short_history_gives_nan_values_and_the_flag_never_an_error() -> None:
    report = build_report("NEW", *(a[:10] for a in OHLCV))
    assert "insufficient_history" in report.flags
    assert math.isnan(report.sma_fast)
    assert math.isnan(report.rsi)
    assert report.last_close == CLOSE[9]
    assert report.trend == "flat"


def test_a_single_bar_is_a_report_with_insufficient_history() -> None:
    report = build_report("NEW", *(a[:1] for a in OHLCV))
    assert math.isnan(report.return_1d_pct)
    assert "insufficient_history" in report.flags


def test_empty_input_is_rejected() -> None:
    empty = np.array([])
    with pytest.raises(ValueError, match="no bars"):
        build_report("X", empty, empty, empty, empty, empty)


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        build_report("X", OPEN, HIGH, LOW[:-1], CLOSE, VOLUME)


def test_volume_surge_flag_at_three_times_the_usual_volume() -> None:
    close, high, low, _, volume = _flat(60)
    volume[-1] = 3_000.0
    assert "volume_surge" in build_report("X", close, high, low, close, volume).flags
    volume[-1] = 2_999.0
    assert "volume_surge" not in build_report("X", close, high, low, close, volume).flags


def test_gap_move_flag_at_a_five_percent_day() -> None:
    close, high, low, _, volume = _flat(60)
    close[-1] = 105.0
    assert "gap_move" in build_report("X", close, high, low, close, volume).flags
    close[-1] = 96.0
    assert "gap_move" not in build_report("X", close, high, low, close, volume).flags


def test_high_volatility_flag_at_sixty_percent_a_year() -> None:
    swinging = 100.0 * np.exp(np.cumsum(np.tile([0.05, -0.05], 40)))  # ~79 % a year
    report = build_report("X", swinging, swinging, swinging, swinging, np.ones(80))
    assert report.volatility_annual > 0.6
    assert "high_volatility" in report.flags
    assert "high_volatility" not in build_report("X", *_flat(80)).flags


def test_as_dict_is_json_safe_with_nan_as_none() -> None:
    short = build_report("NEW", *(a[:5] for a in OHLCV)).as_dict()
    assert short["rsi"] is None
    assert short["symbol"] == "NEW"
    assert short["flags"] == ["insufficient_history"]
    json.dumps(short, allow_nan=False)
    full = build_report("SPY", *OHLCV).as_dict()
    assert full["rsi"] == pytest.approx(42.0773, abs=1e-4)
    json.dumps(full, allow_nan=False)
