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
    out = nan_like(c)
    if len(c) <= p:
        return out
    # Wilder smoothing is linear, so with G and L the smoothed gains and losses, G - L is the smoothed
    # change and G + L the smoothed absolute change, and 100 G / (G + L) = 50 + 50 (G - L) / (G + L): two
    # smoothers and no split into gains and losses. |G - L| <= G + L survives rounding (the same operations
    # run on d and |d|), so the RSI stays within [0, 100].
    net, total = _smoothed_changes(c, p)
    balance = out[p:]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(net[p - 1 :], total[p - 1 :], out=balance)
    if not total[p - 1 :].all():  # no movement over the whole smoothing memory: neutral
        balance[total[p - 1 :] == 0.0] = 0.0
    balance *= 50.0
    balance += 50.0
    return out


def _smoothed_changes(c: FloatArray, p: int) -> tuple[FloatArray, FloatArray]:
    """Wilder-smoothed close-to-close change and absolute change, one row per change."""
    if c.ndim == 2:
        changes = np.diff(c, axis=0)
        net = seeded_smoother(changes, p, 1.0 / p)
        return net, seeded_smoother(np.abs(changes, out=changes), p, 1.0 / p)

    # One long series: the changes are produced a chunk at a time, in cache, and never stored whole.
    def change(start: int, stop: int) -> FloatArray:
        return c[start + 1 : stop + 1] - c[start:stop]

    def size(start: int, stop: int) -> FloatArray:
        d = change(start, stop)
        return np.abs(d, out=d)

    n = len(c) - 1
    return seeded_smoother_chunks(change, n, p, 1.0 / p), seeded_smoother_chunks(size, n, p, 1.0 / p)


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
