"""Bounded momentum oscillators, in points from 0 to 100: RSI and the stochastic oscillator."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.indicators._arrays import FloatArray, aligned, nan_like, period_of, require_finite, shaped
from quant.indicators._smoothing import BLOCKED_FROM, CHUNK_ROWS, Chunk, run_blocked, seeded_smoother, single_pole
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
    c = shaped(close, "close")
    p = period_of(period)
    if c.ndim == 1 and p > 1 and len(c) - 1 - p >= BLOCKED_FROM:
        return _rsi_of_series(c, p)
    require_finite(c, "close")
    if len(c) <= p:
        return nan_like(c)
    # With G and L the smoothed gains and losses, RSI = 100 G / (G + L), and G + L is the smoothed absolute
    # change (smoothing is linear): two smoothers, no separate losses. G <= G + L survives rounding (the
    # same operations run on max(d, 0) <= |d|), so the RSI stays within [0, 100], and is exactly 100 when
    # the closes only rise.
    out = np.empty(c.shape)
    out[0] = np.nan
    gains = out[1:]  # the smoothed gains go straight into the output, which p - 1 NaN rows already start
    changes = np.diff(c, axis=0)
    seeded_smoother(np.maximum(changes, 0.0), p, 1.0 / p, out=gains)
    total = seeded_smoother(np.abs(changes, out=changes), p, 1.0 / p)
    with np.errstate(invalid="ignore", divide="ignore"):
        _ratio_into(out[p:], total[p - 1 :])
    return out


def _ratio_into(gains: FloatArray, total: FloatArray, out: FloatArray | None = None, moved: bool = False) -> None:
    """``out <- 100 * gains / total`` (``out`` defaults to ``gains``); 50 (neutral) where nothing moved, i.e.
    ``total == 0``, unless the caller knows ``total`` is positive throughout (``moved``). Division by zero
    happens there: callers silence it (``np.errstate``)."""
    ratio = gains if out is None else out
    np.divide(gains, total, out=ratio)
    if not (moved or total.all()):  # no movement over the whole smoothing memory: neutral
        ratio[total == 0.0] = 0.5
    ratio *= 100.0


def _rsi_of_series(c: FloatArray, p: int) -> FloatArray:
    """RSI of a long 1-D series (``p > 1``), finiteness checked on the result.

    The changes are produced a chunk at a time, in cache, and never stored whole. A NaN or infinite close
    makes the smoothed absolute change NaN or infinite from there on (its weights are positive, as ``p > 1``,
    and it sums non-negative terms, so nothing cancels an infinity): its last value is finite exactly when
    every close is (barring overflow), and only otherwise is the input scanned to name the culprit.
    """
    first_changes = np.diff(c[: p + 1])
    with np.errstate(invalid="ignore"):  # an infinite close is reported below, not warned about here
        seed_gain, seed_total = float(np.maximum(first_changes, 0.0).mean()), float(np.abs(first_changes).mean())
    out = np.empty(len(c))
    out[:p] = np.nan
    out[p] = 100.0 * (seed_gain / seed_total) if seed_total else 50.0  # as _ratio_into rounds
    # Row i of the smoothing is the change c[p + 1 + i] - c[p + i]; it lands on out[p + 1 + i].
    changes, gain, size = (np.empty(min(CHUNK_ROWS, len(c))) for _ in range(3))
    n, rsi_rows = len(c) - 1 - p, out[p + 1 :]

    def source(start: int, stop: int) -> tuple[FloatArray, FloatArray]:
        rows = stop - start
        d = np.subtract(c[p + 1 + start : p + 1 + stop], c[p + start : p + stop], out=changes[:rows])
        return np.maximum(d, 0.0, out=gain[:rows]), np.abs(d, out=size[:rows])

    smoother = single_pole(1.0 / p)
    least_carry = float(smoother.carries[0].min())  # what a block keeps of the total it starts with, at least

    def finish(chunk: Chunk) -> None:
        gains, total = chunk.outputs[0][0], chunk.outputs[1][0]
        # Every total in a block is at least its carried-in total times least_carry (the changes are
        # non-negative and rounding is monotonic): while that stays positive, no total can be zero, and the
        # scan for flat stretches is skipped.
        moved = float(chunk.states[0, 1].min()) * least_carry > 0.0
        _ratio_into(gains, total, rsi_rows[chunk.first : chunk.last], moved)

    total = np.empty(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        run_blocked(source, n, smoother, [[seed_gain], [seed_total]], [[rsi_rows], [total]], finish, store=True)
    if not math.isfinite(total[-1]):
        require_finite(c, "close")  # raises, unless only the arithmetic overflowed
    return out


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
