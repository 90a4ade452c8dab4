"""Moving averages: simple, exponential, and the MACD built from them. All in price units."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.indicators._arrays import FloatArray, nan_like, period_of, series
from quant.indicators._smoothing import Pole, filter_sum, seeded_smoother
from quant.indicators._windows import window_mean


@dataclass(frozen=True, slots=True)
class MacdResult:
    """MACD series, in price units: ``line = EMA(fast) - EMA(slow)``, ``signal = EMA(line, signal)``."""

    line: FloatArray
    signal: FloatArray
    histogram: FloatArray

    def __iter__(self) -> Iterator[FloatArray]:
        return iter((self.line, self.signal, self.histogram))


def sma(x: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average over the trailing ``period`` values, including the current one.

    First value at index ``period - 1``. Raises ``ValueError`` if ``x`` holds NaN or infinity.
    """
    a = series(x, "x")
    p = period_of(period)
    out = nan_like(a)
    if len(a) < p:
        return out
    out[p - 1 :] = window_mean(a, p)
    return out


def ema(x: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period``.

    First value at index ``period - 1`` (equal to the SMA there). Raises ``ValueError`` on NaN or infinity.
    """
    a = series(x, "x")
    p = period_of(period)
    return seeded_smoother(a, p, 2.0 / (p + 1))


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdResult:
    """MACD line, signal line and histogram, in price units.

    The line starts at index ``max(fast, slow) - 1``; the signal EMA is seeded with the mean of the first
    ``signal`` line values, so it starts ``signal - 1`` bars later. Raises ``ValueError`` on NaN or infinity.
    """
    c = series(close, "close")
    f, s, g = period_of(fast, "fast"), period_of(slow, "slow"), period_of(signal, "signal")
    start = max(f, s) - 1
    line = _macd_line(c, f, s) if c.ndim == 1 else _ema_difference(c, f, s)
    sig = np.empty_like(line)
    sig[: min(start, len(c))] = np.nan
    if len(c) > start:
        seeded_smoother(line[start:], g, 2.0 / (g + 1), out=sig[start:])
    return MacdResult(line=line, signal=sig, histogram=line - sig)


def _ema_difference(c: FloatArray, fast: int, slow: int) -> FloatArray:
    line = seeded_smoother(c, fast, 2.0 / (fast + 1))
    line -= seeded_smoother(c, slow, 2.0 / (slow + 1))
    return line


def _macd_line(c: FloatArray, fast: int, slow: int) -> FloatArray:
    """EMA(fast) - EMA(slow) of a 1-D series, past the warm-up as one filter with two poles (one pass)."""
    start = max(fast, slow) - 1
    if len(c) <= start + 1:
        return _ema_difference(c, fast, slow)
    line = np.empty_like(c)
    line[: start + 1] = _ema_difference(c[: start + 1], fast, slow)
    poles = []
    for period, weight in ((fast, 1.0), (slow, -1.0)):
        alpha = 2.0 / (period + 1)
        state = seeded_smoother(c[: start + 1], period, alpha)[start]  # the EMA on the line's first bar
        poles.append(Pole(gain=alpha, decay=1.0 - alpha, initial=float(state), weight=weight))
    filter_sum(c[start + 1 :], poles, out=line[start + 1 :])
    return line
