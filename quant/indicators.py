"""Technical indicators over price and volume series, vectorised with numpy/scipy.

This module owns the numeric definitions every other part of AEGIS reads indicators through. Conventions
follow Stock.Indicators (DaveSkender) and are pinned by its published values in the tests:

- time is axis 0: every function accepts a 1-D series ``(time,)`` or a 2-D panel ``(time, symbols)`` and
  returns arrays of the same shape;
- warm-up bars are NaN, and a series too short for the warm-up comes back all-NaN (never an exception);
- EMA-type smoothers are seeded with the simple mean of their first ``period`` inputs; Wilder smoothing is an
  EMA with ``alpha = 1 / period``; both run through ``scipy.signal.lfilter``, never a Python loop;
- the true range of the first bar is undefined (there is no previous close), so ATR starts at ``period``.

Inputs must be finite: a NaN or infinity raises ``ValueError`` naming the argument and the first bad index
("close has NaN at index 17"). Callers holding gappy panels handle missing cells themselves (see
``quant.screen``); silently propagating NaN through a recursive smoother would poison every later bar.

Pure: no I/O, no clock, imports nothing from the rest of the project.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MacdResult:
    """MACD series, in price units: ``line = EMA(fast) - EMA(slow)``, ``signal = EMA(line, signal)``."""

    line: FloatArray
    signal: FloatArray
    histogram: FloatArray

    def __iter__(self) -> Iterator[FloatArray]:
        return iter((self.line, self.signal, self.histogram))


@dataclass(frozen=True, slots=True)
class BollingerBands:
    """Bollinger bands in price units; unpacks as ``middle, upper, lower``."""

    middle: FloatArray
    upper: FloatArray
    lower: FloatArray

    def __iter__(self) -> Iterator[FloatArray]:
        return iter((self.middle, self.upper, self.lower))


def sma(x: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average over the trailing ``period`` values, including the current one.

    First value at index ``period - 1``. Raises ``ValueError`` if ``x`` holds NaN or infinity.
    """
    a = _series(x, "x")
    p = _period(period)
    out = _nan_like(a)
    if len(a) < p:
        return out
    out[p - 1 :] = _window_mean(a, p)
    return out


def ema(x: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period``.

    First value at index ``period - 1`` (equal to the SMA there). Raises ``ValueError`` on NaN or infinity.
    """
    a = _series(x, "x")
    p = _period(period)
    return _seeded_smoother(a, p, 2.0 / (p + 1))


def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Relative Strength Index with Wilder smoothing, in points from 0 to 100.

    First value at index ``period`` (it needs ``period`` price changes). When the average loss is zero the
    RSI is 100; when both averages are zero (a flat window) it is 50, the neutral reading. Raises
    ``ValueError`` on NaN or infinity.
    """
    c = _series(close, "close")
    p = _period(period)
    out = _nan_like(c)
    if len(c) <= p:
        return out
    change = np.diff(c, axis=0)
    avg_gain = _seeded_smoother(np.maximum(change, 0.0), p, 1.0 / p)[p - 1 :]
    avg_loss = _seeded_smoother(np.maximum(-change, 0.0), p, 1.0 / p)[p - 1 :]
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        # 100 * g / (g + l) is 100 - 100 / (1 + g / l) without dividing by a zero loss.
        out[p:] = np.where(total > 0.0, 100.0 * avg_gain / total, 50.0)
    return out


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdResult:
    """MACD line, signal line and histogram, in price units.

    The line starts at index ``max(fast, slow) - 1``; the signal EMA is seeded with the mean of the first
    ``signal`` line values, so it starts ``signal - 1`` bars later. Raises ``ValueError`` on NaN or infinity.
    """
    c = _series(close, "close")
    f, s, g = _period(fast, "fast"), _period(slow, "slow"), _period(signal, "signal")
    line = ema(c, f) - ema(c, s)
    sig = _nan_like(c)
    start = max(f, s) - 1
    if len(c) > start:
        sig[start:] = _seeded_smoother(line[start:], g, 2.0 / (g + 1))
    return MacdResult(line=line, signal=sig, histogram=line - sig)


def bollinger(close: npt.ArrayLike, period: int = 20, k: float = 2.0) -> BollingerBands:
    """Bollinger bands: SMA(``period``) plus/minus ``k`` population standard deviations (ddof = 0).

    First value at index ``period - 1``. Raises ``ValueError`` on NaN or infinity.
    """
    c = _series(close, "close")
    p = _period(period)
    if not math.isfinite(k):
        raise ValueError(f"k must be finite, got {k}")
    middle, width = _nan_like(c), _nan_like(c)
    if len(c) >= p:
        mean, variance = _window_moments(c, p, 0)
        middle[p - 1 :] = mean
        width[p - 1 :] = k * np.sqrt(variance)
    return BollingerBands(middle=middle, upper=middle + width, lower=middle - width)


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """True range in price units: ``max(high - low, |high - prev close|, |low - prev close|)``.

    NaN at index 0, where there is no previous close. Raises ``ValueError`` on NaN, infinity or a shape
    mismatch.
    """
    h, lo, c = _aligned(("high", high), ("low", low), ("close", close))
    out = _nan_like(c)
    prev = c[:-1]
    out[1:] = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)))
    return out


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Average True Range with Wilder smoothing, in price units.

    Seeded with the mean of the true ranges of bars ``1 .. period``; first value at index ``period``.
    Raises ``ValueError`` on NaN, infinity or shape mismatch.
    """
    tr = true_range(high, low, close)
    p = _period(period)
    out = _nan_like(tr)
    if len(tr) <= p:
        return out
    out[1:] = _seeded_smoother(tr[1:], p, 1.0 / p)
    return out


def volume_ratio(volume: npt.ArrayLike, period: int = 20) -> FloatArray:
    """Volume divided by the mean volume of the previous ``period`` bars (the current bar excluded).

    A dimensionless multiple (3.0 = three times the usual volume). First value at index ``period``; NaN where
    the trailing mean is zero, since the ratio is undefined there. Raises ``ValueError`` on NaN or infinity.
    """
    v = _series(volume, "volume")
    p = _period(period)
    out = _nan_like(v)
    if len(v) <= p:
        return out
    trailing_mean = _window_mean(v[:-1], p)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[p:] = np.where(trailing_mean > 0.0, v[p:] / trailing_mean, np.nan)
    return out


def rolling_std(x: npt.ArrayLike, period: int, ddof: int = 0) -> FloatArray:
    """Standard deviation over the trailing ``period`` values, including the current one.

    ``ddof = 0`` is the population deviation (Bollinger), ``ddof = 1`` the sample deviation. First value at
    index ``period - 1``. Raises ``ValueError`` on NaN or infinity, or when ``period <= ddof``.
    """
    a = _series(x, "x")
    p = _period(period)
    if ddof < 0 or p <= ddof:
        raise ValueError(f"period must exceed ddof, got period={p}, ddof={ddof}")
    out = _nan_like(a)
    if len(a) < p:
        return out
    out[p - 1 :] = np.sqrt(_window_variance(a, p, ddof))
    return out


def rolling_volatility(close: npt.ArrayLike, period: int = 20, periods_per_year: float = 252.0) -> FloatArray:
    """Annualised volatility of log returns, as a fraction (0.2 = 20 % a year).

    Sample standard deviation (ddof = 1) of the last ``period`` log returns times ``sqrt(periods_per_year)``;
    first value at index ``period``. Raises ``ValueError`` on NaN, infinity or a non-positive close.
    """
    c = _series(close, "close")
    p = _period(period)
    if p < 2:
        raise ValueError(f"period must be at least 2 for a sample deviation, got {p}")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive finite number, got {periods_per_year}")
    if (c <= 0.0).any():
        index = _first_index(c <= 0.0)
        raise ValueError(f"close must be positive for log returns, got {c[index]} at index {_where(index)}")
    out = _nan_like(c)
    if len(c) <= p:
        return out
    log_returns = np.diff(np.log(c), axis=0)
    out[p:] = np.sqrt(_window_variance(log_returns, p, 1) * periods_per_year)
    return out


# --- helpers -------------------------------------------------------------------------------------------


def _series(x: npt.ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (time) or 2-D (time, symbols), got {a.ndim}-D")
    if not np.isfinite(a).all():
        index = _first_index(~np.isfinite(a))
        kind = "NaN" if np.isnan(a[index]) else "an infinite value"
        raise ValueError(f"{name} has {kind} at index {_where(index)}")
    return a


def _aligned(*named: tuple[str, npt.ArrayLike]) -> list[FloatArray]:
    arrays = [_series(x, name) for name, x in named]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        described = ", ".join(f"{name} {a.shape}" for (name, _), a in zip(named, arrays, strict=True))
        raise ValueError(f"inputs must share one shape, got {described}")
    return arrays


def _period(period: int, name: str = "period") -> int:
    try:
        p = operator.index(period)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {period!r}") from None
    if p < 1:
        raise ValueError(f"{name} must be at least 1, got {p}")
    return p


def _first_index(mask: npt.NDArray[np.bool_]) -> tuple[int, ...]:
    # argwhere is row-major, so on a panel the first hit is the earliest bar.
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _nan_like(a: FloatArray) -> FloatArray:
    return np.full(a.shape, np.nan, dtype=np.float64)


def _window_mean(a: FloatArray, period: int) -> FloatArray:
    """Mean of each trailing window of ``period`` rows, one value per row from ``period - 1`` on."""
    windows = _WindowSums(a, period)
    return windows.unblock(windows.reference[:, np.newaxis] + windows.sums / period)


def _window_moments(a: FloatArray, period: int, ddof: int) -> tuple[FloatArray, FloatArray]:
    """Mean and variance (``ddof``) of each trailing window of ``period`` rows, from row ``period - 1`` on."""
    windows = _WindowSums(a, period)
    sums = windows.sums
    variance = sums * sums
    variance /= -period
    variance += windows.sums_of_squares()
    variance /= period - ddof
    np.maximum(variance, 0.0, out=variance)  # rounding can leave a flat window at -1e-17
    mean = windows.reference[:, np.newaxis] + sums / period
    return windows.unblock(mean), windows.unblock(variance)


def _window_variance(a: FloatArray, period: int, ddof: int) -> FloatArray:
    return _window_moments(a, period, ddof)[1]


class _WindowSums:
    """Trailing-window sums in O(n) for any period, without long running totals.

    Rows are cut into blocks of ``period`` and summed as deviations from each block's first row
    (``reference``), so every window spans at most two blocks and is rebased with an exact shift. A global
    cumulative sum over a million bars loses digits when two large totals are subtracted, and
    ``E[x^2] - E[x]^2`` on raw prices cancels catastrophically; block-local deviations avoid both.
    Results stay in the blocked layout ``(blocks, period, ...)`` until ``unblock``.
    """

    __slots__ = ("_deviations", "_n", "_period", "_shift", "_tail", "_tail_size", "reference", "sums")

    def __init__(self, a: FloatArray, period: int) -> None:
        n, p = len(a), period
        n_blocks = -(-n // p)
        if n_blocks * p > n:
            a = np.concatenate([a, np.repeat(a[-1:], n_blocks * p - n, axis=0)])
        blocks = a.reshape(n_blocks, p, *a.shape[1:])
        self._n, self._period = n, p
        self.reference: FloatArray = blocks[:, 0]
        self._deviations: FloatArray = blocks - self.reference[:, np.newaxis]
        # A window ending at offset j of block k is the tail of block k - 1 after offset j (tail_size rows,
        # measured from reference[k - 1]) plus the head of block k up to j; a full block needs no tail.
        self._tail_size = (p - 1 - np.arange(p - 1, dtype=np.float64)).reshape((1, p - 1) + (1,) * (a.ndim - 1))
        self._shift = (self.reference[:-1] - self.reference[1:])[:, np.newaxis]
        sums: FloatArray = np.cumsum(self._deviations, axis=1)
        self._tail: FloatArray = sums[:-1, -1:] - sums[:-1, :-1]
        sums[1:, :-1] += self._tail + self._tail_size * self._shift
        self.sums = sums  # of x - reference[k] over each window ending in block k

    def sums_of_squares(self) -> FloatArray:
        """Sums of ``(x - reference[k]) ** 2`` over each window ending in block k."""
        squares: FloatArray = np.cumsum(self._deviations * self._deviations, axis=1)
        tail_squares = squares[:-1, -1:] - squares[:-1, :-1]
        # (d + s)^2 = d^2 + 2 s d + s^2, with d measured from reference[k - 1] and s the rebasing shift.
        tail_squares += (2.0 * self._shift) * self._tail
        tail_squares += self._tail_size * (self._shift * self._shift)
        squares[1:, :-1] += tail_squares
        return squares

    def unblock(self, blocked: FloatArray) -> FloatArray:
        """Back to rows, keeping the windows that end on a real row from ``period - 1`` on."""
        flat = blocked.reshape(-1, *blocked.shape[2:])
        return flat[self._period - 1 : self._n]


def _seeded_smoother(a: FloatArray, period: int, alpha: float) -> FloatArray:
    """``y[t] = alpha * a[t] + (1 - alpha) * y[t-1]``, seeded at row ``period - 1`` with ``mean(a[:period])``.

    NaN before the seed; all-NaN when ``a`` is shorter than ``period``.
    """
    out = _nan_like(a)
    if len(a) < period:
        return out
    seed = a[:period].mean(axis=0)
    out[period - 1] = seed
    if len(a) > period:
        # Direct form II transposed: with one state, y[0] = b0 * x[0] + z0, so z0 = (1 - alpha) * y[-1].
        initial_state = ((1.0 - alpha) * np.asarray(seed))[np.newaxis, ...]
        smoothed, _ = lfilter([alpha], [1.0, alpha - 1.0], a[period:], axis=0, zi=initial_state)
        out[period:] = smoothed
    return out
