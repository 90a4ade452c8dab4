"""Signal quality: density over evaluable cells (healthy 5-15 %), and forward hit rate from later bars only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.backtest import HEALTHY_DENSITY, signal_quality

RISING = 100.0 + np.arange(20.0)


def _signal(n: int, at: list[int]) -> np.ndarray:
    s = np.zeros(n)
    s[at] = 1.0
    return s


def test_density_is_the_share_of_evaluable_cells_that_fire() -> None:
    signal = _signal(20, [3, 9])
    signal[:5] = np.where(signal[:5] == 1.0, 1.0, np.nan)  # warm-up: undefined except the signal at 3
    quality = signal_quality(signal, RISING)
    assert (quality.evaluable, quality.signals) == (16, 2)
    assert quality.density == 2 / 16


@pytest.mark.parametrize(("fires", "healthy"), [(1, True), (3, True), (4, False), (0, False)])
def test_density_is_healthy_between_5_and_15_percent_inclusive(fires: int, healthy: bool) -> None:
    quality = signal_quality(_signal(20, list(range(fires))), RISING)
    assert quality.density == fires / 20
    assert quality.healthy is healthy
    assert HEALTHY_DENSITY == (0.05, 0.15)


def test_hit_rate_compares_the_close_horizon_bars_later_with_the_signal_close() -> None:
    close = np.array([10.0, 11.0, 9.0, 12.0, 8.0, 13.0, 13.0, 14.0])
    quality = signal_quality(_signal(8, [0, 1, 4, 7]), close, horizon=2)
    # 0: 10 -> 9 (miss); 1: 11 -> 12 (hit); 4: 8 -> 13 (hit); 7: no close two bars later (not evaluated).
    assert (quality.signals, quality.evaluated) == (4, 3)
    assert quality.hit_rate == pytest.approx(2 / 3)
    assert quality.mean_forward_return == pytest.approx(np.mean([9 / 10 - 1, 12 / 11 - 1, 13 / 8 - 1]))
    # Over every evaluable cell with a known future: 10->9, 11->12, 9->8, 12->13, 8->13, 13->14.
    assert quality.base_hit_rate == pytest.approx(4 / 6)


def test_the_hit_rate_ignores_every_bar_between_the_signal_and_the_horizon_and_before_the_signal() -> None:
    close = np.array([10.0, 11.0, 9.0, 12.0, 8.0, 13.0, 13.0, 14.0])
    reference = signal_quality(_signal(8, [4]), close, horizon=2)
    rewritten = close.copy()
    rewritten[[0, 1, 2, 3, 5]] = [1.0, 50.0, 2.0, 60.0, 0.5]
    assert signal_quality(_signal(8, [4]), rewritten, horizon=2).hit_rate == reference.hit_rate == 1.0


def test_a_panel_of_symbols_is_scored_cell_by_cell_and_missing_future_bars_are_not_evaluated() -> None:
    close = np.column_stack([RISING, RISING[::-1]])
    close[6, 0] = np.nan
    signal = np.zeros((20, 2))
    signal[[1, 4], 0] = 1.0  # 4: the bar two later is missing
    signal[1, 1] = 1.0
    quality = signal_quality(signal, close, horizon=2)
    assert (quality.signals, quality.evaluated, quality.hit_rate) == (3, 2, 0.5)


def test_no_signals_gives_nan_rates_and_bad_input_is_refused() -> None:
    quality = signal_quality(np.zeros(10), RISING[:10])
    assert quality.signals == 0 and math.isnan(quality.hit_rate) and math.isnan(quality.mean_forward_return)
    assert "density 0.00%" in quality.describe()
    with pytest.raises(ValueError, match="fires"):
        signal_quality(np.full(10, 0.5), RISING[:10])
    with pytest.raises(ValueError, match="shape"):
        signal_quality(np.zeros(9), RISING[:10])
    with pytest.raises(ValueError, match="horizon"):
        signal_quality(np.zeros(10), RISING[:10], horizon=0)
