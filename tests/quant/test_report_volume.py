"""Zero or missing volume: marked per bar, the volume rule skipped with the reason, never short history."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import numpy.typing as npt
import pytest

from quant import indicators
from quant.anomalies import scan_volume_spikes
from quant.report import VOLUME_PERIOD, QuantReport, build_report
from quant.screen import ScreenParams, screen_panel
from tools.feeds.bundled import load_bundled_daily

PANEL = load_bundled_daily(["AAPL"], end=date(2013, 6, 28))
OPEN, H, L, C, V = (getattr(PANEL, f)[:, 0].copy() for f in ("open", "high", "low", "close", "volume"))
DATES = list(PANEL.dates)


def report(volume: npt.NDArray[np.float64]) -> QuantReport:
    return build_report("AAPL", OPEN, H, L, C, volume, bar_dates=DATES)


def test_clean_real_volume_has_no_volume_marks() -> None:
    clean = report(V)
    assert clean.no_volume_bars == () and clean.skipped == ()
    assert "no_volume" not in clean.flags and "insufficient_history" not in clean.flags
    assert math.isfinite(clean.volume_ratio)


@pytest.mark.parametrize(("value", "kind"), [(0.0, "zero"), (math.nan, "missing")])
@pytest.mark.parametrize("back", [0, VOLUME_PERIOD])  # the last bar; the oldest bar of the baseline
def test_a_bar_without_volume_in_the_window_skips_the_volume_rule_and_is_not_short_history(
    value: float, kind: str, back: int
) -> None:
    volume = V.copy()
    volume[-1 - back] = value
    flagged = report(volume)
    day = DATES[-1 - back].isoformat()
    assert flagged.no_volume_bars == (day,)
    assert flagged.skipped == (f"volume_surge: skipped, {kind} volume on {day}",)
    assert "no_volume" in flagged.flags and "volume_surge" not in flagged.flags
    assert "insufficient_history" not in flagged.flags  # the root cause: NaN ratio read as short history
    assert math.isnan(flagged.volume_ratio) and math.isfinite(flagged.rsi)
    assert flagged.as_dict()["skipped"] == [f"volume_surge: skipped, {kind} volume on {day}"]


def test_a_bar_without_volume_just_outside_the_window_is_marked_but_the_rule_runs() -> None:
    volume = V.copy()
    volume[-2 - VOLUME_PERIOD] = 0.0
    outside = report(volume)
    assert outside.no_volume_bars == (DATES[-2 - VOLUME_PERIOD].isoformat(),)
    assert outside.skipped == () and "no_volume" not in outside.flags
    assert outside.volume_ratio == pytest.approx(report(V).volume_ratio)


def test_closes_only_data_reports_every_bar_as_missing_volume_and_keeps_its_price_indicators() -> None:
    closes_only = build_report("AAPL", C, C, C, C, np.full(len(C), np.nan))
    assert len(closes_only.no_volume_bars) == len(C) and closes_only.no_volume_bars[-1] == "bar -1"
    assert closes_only.skipped[0].startswith("volume_surge: skipped, missing volume on bar -21, bar -20, bar -19")
    assert closes_only.skipped[0].endswith("and 18 more")
    assert closes_only.flags == ("no_volume", "closes_only") and math.isfinite(closes_only.sma_slow)


def test_the_volume_window_mask_at_its_edges() -> None:
    volume = np.array([1.0, 0.0, 1.0, 1.0, 1.0, np.nan, 1.0, 1.0, 1.0])
    assert indicators.no_volume_window(volume, 2).tolist() == [False, True, True, True, False, True, True, True, False]


def test_the_screen_skips_a_volume_surge_whose_baseline_holds_a_zero_and_keeps_price_signals() -> None:
    panel = load_bundled_daily(["AAPL", "MSFT"], end=date(2014, 12, 31))
    o, h, lo, c = (getattr(panel, f) for f in ("open", "high", "low", "close"))
    params = ScreenParams()
    clean = screen_panel(o, h, lo, c, panel.volume, params)
    surges = [t for t in clean if t.signal == "volume_surge"]
    assert surges
    first = surges[0]
    volume = panel.volume.copy()
    volume[first.row - 3, first.column] = 0.0  # a zero in its baseline would only inflate the ratio
    zeroed = screen_panel(o, h, lo, c, volume, params)
    assert (first.row, first.column, "volume_surge") not in {(t.row, t.column, t.signal) for t in zeroed}
    # without any volume the price signals are unchanged and no volume signal fires
    no_volume = screen_panel(o, h, lo, c, np.full(volume.shape, np.nan), params)
    expected = {(t.row, t.column) for t in clean if t.signal in {"golden_cross", "death_cross", "sigma_move"}}
    got = {(t.row, t.column) for t in no_volume if t.signal in {"golden_cross", "death_cross", "sigma_move"}}
    assert got == expected and not [t for t in no_volume if t.signal == "volume_surge"]


def test_the_volume_spike_anomaly_is_skipped_when_a_zero_deflates_its_baseline() -> None:
    volume = np.array([100.0] * 20 + [960.0])
    times = np.arange(21, dtype=np.float64) * 86_400
    assert not scan_volume_spikes(volume, times_s=times, symbols=["X"]).findings()  # 9.6x: under 10x
    volume[5] = 0.0  # the mean falls to 95: 10.1x, a spike made by the missing volume alone
    assert not scan_volume_spikes(volume, times_s=times, symbols=["X"]).findings()
    volume[5] = 100.0
    volume[-1] = 1_000.0
    assert len(scan_volume_spikes(volume, times_s=times, symbols=["X"]).findings()) == 1  # a real 10x still fires
