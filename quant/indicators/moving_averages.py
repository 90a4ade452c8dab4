"""Moving averages: simple, exponential, and the MACD built from them. All in price units."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.indicators._arrays import FloatArray, nan_like, period_of, require_finite, series, shaped
from quant.indicators._smoothing import BLOCKED_FROM, Chunk, block_filter, run_blocked, seeded_smoother
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
    a = shaped(x, "x")
    p = period_of(period)
    if p == 1 or len(a) < p:
        require_finite(a, "x")
        return seeded_smoother(a, p, 2.0 / (p + 1))
    # With p > 1 every input enters the last row with a positive weight, and NaN or infinity propagate
    # through the recursion: the last row is finite exactly when every input is (barring overflow). So the
    # input is scanned, to name the culprit, only when it is not: one pass over a long series saved.
    with np.errstate(invalid="ignore"):
        out = seeded_smoother(a, p, 2.0 / (p + 1))
    if not np.isfinite(out[-1]).all():
        require_finite(a, "x")  # raises, unless only the arithmetic overflowed
    return out


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdResult:
    """MACD line, signal line and histogram, in price units.

    The line starts at index ``max(fast, slow) - 1``; the signal EMA is seeded with the mean of the first
    ``signal`` line values, so it starts ``signal - 1`` bars later. Raises ``ValueError`` on NaN or infinity.
    """
    c = shaped(close, "close")
    f, s, g = period_of(fast, "fast"), period_of(slow, "slow"), period_of(signal, "signal")
    start = max(f, s) - 1
    if c.ndim == 1 and start > 0 and len(c) - (start + g) >= BLOCKED_FROM:
        with np.errstate(invalid="ignore"):  # infinite closes are reported below, not warned about here
            result = _macd_of_series(np.ascontiguousarray(c), f, s, g)
        # The slower EMA (period > 1) gives every close a positive weight in its last value, and NaN or
        # infinity propagate through it into the last line value (and the signal): finite exactly when
        # every close is, barring overflow. Only otherwise is the input scanned, to name the culprit.
        if not (math.isfinite(result.line[-1]) and math.isfinite(result.signal[-1])):
            require_finite(c, "close")  # raises, unless only the arithmetic overflowed
        return result
    require_finite(c, "close")
    line = _ema_difference(c, f, s)
    sig = np.empty_like(line)
    sig[: min(start, len(c))] = np.nan
    if len(c) > start:
        seeded_smoother(line[start:], g, 2.0 / (g + 1), out=sig[start:])
    return MacdResult(line=line, signal=sig, histogram=line - sig)


def _ema_difference(c: FloatArray, fast: int, slow: int) -> FloatArray:
    line = seeded_smoother(c, fast, 2.0 / (fast + 1))
    line -= seeded_smoother(c, slow, 2.0 / (slow + 1))
    return line


def _macd_of_series(c: FloatArray, fast: int, slow: int, signal: int) -> MacdResult:
    """MACD of a long 1-D series: past the signal's seed, one filter with three states (``run_blocked``).

    The states are the fast EMA, the slow EMA and the signal, which is driven by the line at the same row:
    ``signal[t] = a_g (fast[t] - slow[t]) + d_g signal[t-1]``, with each ``fast[t] = a_f c[t] + d_f
    fast[t-1]`` substituted in, so the transition is lower-triangular. The histogram is taken chunk by
    chunk while the line and the signal are still in cache.
    """
    start = max(fast, slow) - 1
    seeded = start + signal  # the first row with every state: the rows before are computed as the short path does
    a_f, a_s, a_g = 2.0 / (fast + 1), 2.0 / (slow + 1), 2.0 / (signal + 1)
    d_f, d_s, d_g = 1.0 - a_f, 1.0 - a_s, 1.0 - a_g
    line, sig, histogram = (np.empty_like(c) for _ in range(3))
    fast_ema, slow_ema = seeded_smoother(c[:seeded], fast, a_f), seeded_smoother(c[:seeded], slow, a_s)
    np.subtract(fast_ema, slow_ema, out=line[:seeded])
    sig[:start] = np.nan
    seeded_smoother(line[start:seeded], signal, a_g, out=sig[start:seeded])
    np.subtract(line[:seeded], sig[:seeded], out=histogram[:seeded])
    states = (float(fast_ema[-1]), float(slow_ema[-1]), float(sig[seeded - 1]))
    filt = block_filter(
        ((d_f, 0.0, 0.0), (0.0, d_s, 0.0), (a_g * d_f, -a_g * d_s, d_g)),
        (a_f, a_s, a_g * (a_f - a_s)),
        ((1.0, -1.0, 0.0), (0.0, 0.0, 1.0)),  # line, signal
    )
    rest = c[seeded:]
    tail = histogram[seeded:]

    def finish(chunk: Chunk) -> None:
        line_rows, signal_rows = chunk.outputs[0]
        np.subtract(line_rows, signal_rows, out=tail[chunk.first : chunk.last])

    run_blocked(
        lambda i, j: (rest[i:j],), len(rest), filt, [states], [[line[seeded:], sig[seeded:]]], finish, store=False
    )
    return MacdResult(line=line, signal=sig, histogram=histogram)
