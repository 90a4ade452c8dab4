"""The trigger screen: causal signals, one trigger per cell, NaN-tolerant, fast on a real-sized panel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant import indicators
from quant.screen import ScreenParams, Trigger, screen_panel

FloatArray = npt.NDArray[np.float64]
Panel = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]  # open, high, low, close, volume
DATA = Path(__file__).resolve().parents[1] / "data"
_TABLE = np.genfromtxt(DATA / "stockindicators_default_spy_2017_2018.csv", delimiter=",", skip_header=1)
SPY: Panel = (_TABLE[:, 1:2], _TABLE[:, 2:3], _TABLE[:, 3:4], _TABLE[:, 4:5], _TABLE[:, 5:6])  # (502, 1) each

SIGNALS = {"golden_cross", "death_cross", "rsi_oversold", "rsi_overbought", "volume_surge", "sigma_move"}


def _keys(triggers: list[Trigger], up_to_row: int | None = None) -> list[tuple[int, int, str, str]]:
    return [(t.row, t.column, t.signal, t.direction) for t in triggers if up_to_row is None or t.row <= up_to_row]


def _panel_map(panel: Panel, f: Callable[[FloatArray], FloatArray]) -> Panel:
    o, h, lo, c, v = panel
    return f(o), f(h), f(lo), f(c), f(v)


def _copy(panel: Panel) -> Panel:
    return _panel_map(panel, np.copy)


def _synthetic_panel(rows: int, symbols: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, (rows, symbols)), axis=0))
    open_ = close * (1.0 + rng.normal(0.0, 0.003, (rows, symbols)))
    high = np.maximum(open_, close) * 1.005
    low = np.minimum(open_, close) * 0.995
    volume = rng.lognormal(15.0, 0.5, (rows, symbols))
    return open_, high, low, close, volume


def _single(close: FloatArray, volume: FloatArray | None = None) -> Panel:
    column = close[:, np.newaxis]
    vol = np.ones_like(column) if volume is None else volume[:, np.newaxis]
    return column, column, column, column, vol


# --- real data ------------------------------------------------------------------------------------------


def test_signal_density_on_real_spy_is_between_1_and_30_percent() -> None:
    triggers = screen_panel(*SPY)
    bars = SPY[3].shape[0]
    density = len(triggers) / bars
    counts = {s: sum(t.signal == s for t in triggers) for s in sorted(SIGNALS)}
    message = f"signal density on SPY 2017-2018: {density:.1%} ({len(triggers)} of {bars} bars), by signal {counts}"
    assert 0.01 <= density <= 0.30, message


def test_triggers_are_sorted_one_per_cell_with_valid_fields() -> None:
    triggers = screen_panel(*_synthetic_panel(600, 5, seed=1))
    cells = [(t.row, t.column) for t in triggers]
    assert cells == sorted(set(cells))
    assert triggers
    for trigger in triggers:
        assert trigger.signal in SIGNALS
        assert trigger.direction in ("long", "short")
        assert 0.0 <= trigger.strength <= 1.0


@pytest.mark.parametrize("cut", [60, 120, 250, 400, 480])
def test_no_look_ahead_on_real_spy(cut: int) -> None:
    """Rewriting every bar after ``cut`` never changes a trigger at or before ``cut``."""
    before = screen_panel(*SPY)
    rng = np.random.default_rng(cut)
    altered = _copy(SPY)
    shock = rng.lognormal(0.0, 0.2, (len(altered[0]) - cut - 1, 1))
    for a in altered[:4]:
        a[cut + 1 :] *= shock
    altered[4][cut + 1 :] *= rng.lognormal(1.0, 1.0, shock.shape)
    altered[3][-3:] = np.nan  # even a gap later on changes nothing earlier
    after = screen_panel(*altered)
    assert _keys(after, cut) == _keys(before, cut)
    assert _keys(after) != _keys(before)


_small = ScreenParams(fast=3, slow=7, rsi_period=4, vol_window=5, volume_surge_ratio=1.8, move_sigma=1.5)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    cut=st.integers(min_value=0, max_value=59),
    hole=st.booleans(),
)
def test_no_look_ahead_property(seed: int, cut: int, hole: bool) -> None:
    panel = _synthetic_panel(60, 3, seed)
    before = screen_panel(*panel, params=_small)
    rng = np.random.default_rng(seed + 1)
    altered = _copy(panel)
    for a in altered:
        a[cut + 1 :] = a[cut + 1 :] * rng.lognormal(0.0, 0.3, a[cut + 1 :].shape)
    if hole and cut + 1 < 60:
        altered[3][cut + 1 :, 1] = np.nan
    after = screen_panel(*altered, params=_small)
    assert _keys(after, cut) == _keys(before, cut)


# --- signal definitions on synthetic series ------------------------------------------------------------


def test_known_crosses_on_a_v_shaped_series() -> None:
    close = np.array(
        [10, 10, 10, 10, 10, 9.5, 9, 8.5, 8, 8, 8, 8.5, 9, 9.5, 10, 10.5, 11, 11, 11, 11, 11],
        dtype=np.float64,
    )
    # sma(2) - sma(4): 0 at rows 3-4, negative from row 5, positive from row 11, back to 0 at row 19.
    triggers = screen_panel(*_single(close), params=ScreenParams(fast=2, slow=4))
    assert _keys(triggers) == [(5, 0, "death_cross", "short"), (11, 0, "golden_cross", "long")]


def test_rsi_crossing_into_oversold_is_a_long_trigger() -> None:
    close = np.array([10, 11, 10, 11, 10, 11, 10, 9, 8, 7], dtype=np.float64)
    params = ScreenParams(fast=50, slow=60, rsi_period=4, rsi_low=30, rsi_high=70)
    triggers = screen_panel(*_single(close), params=params)
    assert [(t.signal, t.direction) for t in triggers][:1] == [("rsi_oversold", "long")]


def test_volume_surge_takes_the_direction_of_the_bar() -> None:
    close = 100.0 + 0.1 * np.sin(np.arange(40.0))
    volume = np.full(40, 1_000.0)
    volume[30] = 5_000.0
    triggers = screen_panel(*_single(close, volume), params=ScreenParams(move_sigma=50.0))
    surge = [t for t in triggers if t.row == 30]
    assert [(t.signal, t.direction) for t in surge] == [("volume_surge", "long" if close[30] > close[29] else "short")]
    assert surge[0].strength == pytest.approx(1 - 2.5 / 5.0)


def test_sigma_move_beats_a_simultaneous_volume_surge() -> None:
    rng = np.random.default_rng(5)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 40)))
    close[35:] *= 0.9  # a 10 % drop at row 35, ten deviations
    volume = np.full(40, 1_000.0)
    volume[35] = 4_000.0
    triggers = screen_panel(*_single(close, volume))
    shock = next(t for t in triggers if t.row == 35)
    assert (shock.signal, shock.direction) == ("sigma_move", "short")


def test_a_jump_after_perfectly_flat_returns_is_not_a_sigma_move() -> None:
    # Zero deviation gives no scale to measure the move in; the RSI still sees it.
    close = np.full(50, 100.0)
    close[40:] = 101.0
    assert [(t.row, t.signal) for t in screen_panel(*_single(close))] == [(40, "rsi_overbought")]


# --- missing data --------------------------------------------------------------------------------------


def test_nan_cells_and_all_nan_columns_never_trigger() -> None:
    open_, high, low, close, volume = _copy(_synthetic_panel(400, 4, seed=3))
    close[:, 0] = np.nan  # never listed
    for a in (open_, high, low, close, volume):
        a[:150, 1] = np.nan  # listed at row 150
    open_[180:185, 3] = np.nan  # a gap in one price field is enough to make the cell unusable
    volume[200:210, 2] = np.nan  # a missing volume is not: the price signals run, the volume rule does not
    triggers = screen_panel(open_, high, low, close, volume)
    missing = ~(np.isfinite(open_) & np.isfinite(high) & np.isfinite(low) & np.isfinite(close))
    assert not [t for t in triggers if missing[t.row, t.column]]
    no_volume = indicators.no_volume_window(volume, ScreenParams().vol_window)
    assert not [t for t in triggers if t.signal == "volume_surge" and no_volume[t.row, t.column]]
    assert not [t for t in triggers if t.column == 0]
    assert [t for t in triggers if t.column == 3]


def test_a_late_listing_is_screened_from_its_first_bar() -> None:
    panel = _synthetic_panel(400, 2, seed=4)
    late = _copy(panel)
    for a in late:
        a[:150, 1] = np.nan
    alone = screen_panel(*_panel_map(panel, lambda a: a[150:, 1:2]))
    shifted = [(t.row + 150, 1, t.signal, t.direction) for t in alone]
    together = [key for key in _keys(screen_panel(*late)) if key[1] == 1]
    assert together == shifted


def test_mismatched_panels_are_rejected() -> None:
    open_, high, low, close, volume = _synthetic_panel(50, 2, seed=6)
    with pytest.raises(ValueError, match="one shape"):
        screen_panel(open_, high, low, close[:, :1], volume)
