"""Moving averages: simple, exponential, and the MACD built from them. All in price units."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.indicators._arrays import FloatArray, nan_like, period_of, series
from quant.indicators._smoothing import seeded_smoother
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
    line = seeded_smoother(c, f, 2.0 / (f + 1))
    slow_ema = seeded_smoother(c, s, 2.0 / (s + 1))
    line -= slow_ema
    sig = slow_ema  # the slow EMA is no longer needed: its buffer receives the signal line
    start = max(f, s) - 1
    sig[: min(start, len(c))] = np.nan
    if len(c) > start:
        seeded_smoother(line[start:], g, 2.0 / (g + 1), out=sig[start:])
    return MacdResult(line=line, signal=sig, histogram=line - sig)
