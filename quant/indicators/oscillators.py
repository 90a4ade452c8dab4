"""Bounded momentum oscillators, in points from 0 to 100: RSI and the stochastic oscillator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.indicators._arrays import FloatArray, aligned, nan_like, period_of, series
from quant.indicators._smoothing import seeded_smoother, seeded_smoother_chunks
from quant.indicators._windows import window_max, window_mean, window_min


@dataclass(frozen=True, slots=True)
class StochasticResult:
    """Stochastic oscillator in points (0..100); unpacks as ``k, d``.

    ``k`` is %K (the raw position of the close in the ``period``-bar range, averaged over ``smooth`` bars);
    ``d`` is %D, the simple average of ``k`` over ``signal`` bars.
    """

    k: FloatArray
    d: FloatArray

    def __iter__(self) -> Iterator[FloatArray]:
        return iter((self.k, self.d))


def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Relative Strength Index with Wilder smoothing, in points from 0 to 100.

    First value at index ``period`` (it needs ``period`` price changes). When the average loss is zero the
    RSI is 100; when both averages are zero (a flat window) it is 50, the neutral reading. Raises
    ``ValueError`` on NaN or infinity.
    """
    c = series(close, "close")
    p = period_of(period)
    if len(c) <= p:
        return nan_like(c)
    # With G and L the smoothed gains and losses, RSI = 100 G / (G + L), and G + L is the smoothed absolute
    # change (smoothing is linear): two smoothers, no separate losses. G <= G + L survives rounding (the
    # same operations run on max(d, 0) <= |d|), so the RSI stays within [0, 100], and is exactly 100 when
    # the closes only rise.
    out = np.empty(c.shape)
    out[0] = np.nan
    gains = out[1:]  # the smoothed gains go straight into the output, which p - 1 NaN rows already start
    total = _wilder_smoothed_changes(c, p, out=gains)
    balance, total = out[p:], total[p - 1 :]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(balance, total, out=balance)
    if not total.all():  # no movement over the whole smoothing memory: neutral
        balance[total == 0.0] = 0.5
    balance *= 100.0
    return out


def _wilder_smoothed_changes(c: FloatArray, p: int, out: FloatArray) -> FloatArray:
    """Wilder-smoothed gains ``max(d, 0)`` into ``out`` and, returned, absolute changes ``|d|``, of ``d =
    diff(c)``: one row per change."""
    if c.ndim == 2:
        changes = np.diff(c, axis=0)
        seeded_smoother(np.maximum(changes, 0.0), p, 1.0 / p, out=out)
        return seeded_smoother(np.abs(changes, out=changes), p, 1.0 / p)

    # One long series: the changes are produced a chunk at a time, in cache, and never stored whole.
    def gain(start: int, stop: int) -> FloatArray:
        d = c[start + 1 : stop + 1] - c[start:stop]
        return np.maximum(d, 0.0, out=d)

    def size(start: int, stop: int) -> FloatArray:
        d = c[start + 1 : stop + 1] - c[start:stop]
        return np.abs(d, out=d)

    n = len(c) - 1
    seeded_smoother_chunks(gain, n, p, 1.0 / p, out=out)
    return seeded_smoother_chunks(size, n, p, 1.0 / p)


def stochastic(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    period: int = 14,
    signal: int = 3,
    smooth: int = 3,
) -> StochasticResult:
    """Stochastic oscillator %K / %D in points from 0 to 100 (George Lane; StockCharts' "full" form).

    Raw %K is ``100 * (close - lowest low) / (highest high - lowest low)`` over the trailing ``period`` bars
    including the current one; it is 0 when the range is empty (highest high == lowest low), as in
    Stock.Indicators and TA-Lib. ``k`` is the simple average of raw %K over ``smooth`` bars and ``d`` the
    simple average of ``k`` over ``signal`` bars. Hence:

    - ``smooth = 3`` (default) is the *slow* stochastic: Stock.Indicators ``GetStoch(14, 3, 3)`` and
      TA-Lib ``STOCH(14, 3, SMA, 3, SMA)``;
    - ``smooth = 1`` is the *fast* stochastic (``k`` is raw %K): StockCharts' worked example and TA-Lib
      ``STOCHF(14, 3, SMA)``.

    ``k`` starts at index ``period + smooth - 2``, ``d`` at ``period + smooth + signal - 3``. Raises
    ``ValueError`` on NaN, infinity or a shape mismatch.
    """
    h, lo, c = aligned(("high", high), ("low", low), ("close", close))
    p, g, s = period_of(period), period_of(signal, "signal"), period_of(smooth, "smooth")
    k, d = nan_like(c), nan_like(c)
    k_start = p + s - 2
    if len(c) <= k_start:
        return StochasticResult(k=k, d=d)
    highest, lowest = window_max(h, p), window_min(lo, p)
    position = c[p - 1 :] - lowest
    span = highest - lowest
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(span != 0.0, 100.0 * position / span, 0.0)
    k[k_start:] = raw if s == 1 else window_mean(raw, s)
    d_start = k_start + g - 1
    if len(c) > d_start:
        d[d_start:] = window_mean(k[k_start:], g)
    return StochasticResult(k=k, d=d)
