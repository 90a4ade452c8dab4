"""Trailing-window sums, moments and extremes in O(n) per series, exact enough for a million bars."""

from __future__ import annotations

import numpy as np

from quant.indicators._arrays import FloatArray


def window_mean(a: FloatArray, period: int) -> FloatArray:
    """Mean of each trailing window of ``period`` rows, one value per row from ``period - 1`` on."""
    sums = window_sum(a, period)
    sums /= period
    return sums


def window_sum(a: FloatArray, period: int) -> FloatArray:
    """Sum of each trailing window of ``period`` rows, one value per row from ``period - 1`` on.

    By doubling: sums over 1, 2, 4, ... rows each add two sums of the previous span, and a window adds the
    spans of ``period``'s binary digits side by side. ``log2(period) + popcount(period)`` passes, and each
    value is a pairwise sum of its own window only: no running total, so no drift over long series.
    """
    windows = len(a) - period + 1
    if windows <= 0:
        return np.empty((0, *a.shape[1:]))
    pieces = []  # one per binary digit of period, each summing the next span rows of every window
    span_sums, span, offset = a, 1, 0  # span_sums[i] = sum of a[i : i + span]
    while True:
        if period & span:
            pieces.append(span_sums[offset : offset + windows])
            offset += span
        if 2 * span > period:
            break
        span_sums = span_sums[span:] + span_sums[:-span]
        span *= 2
    total = pieces[0].copy()
    for piece in pieces[1:]:
        total += piece
    return total


def window_moments(a: FloatArray, period: int, ddof: int) -> tuple[FloatArray, FloatArray]:
    """Mean and variance (``ddof``) of each trailing window of ``period`` rows, from row ``period - 1`` on."""
    windows = WindowSums(a, period)
    sums = windows.sums
    variance = sums * sums
    variance /= -period
    variance += windows.sums_of_squares()
    variance /= period - ddof
    np.maximum(variance, 0.0, out=variance)  # rounding can leave a flat window at -1e-17
    mean = windows.reference[:, np.newaxis] + sums / period
    return windows.unblock(mean), windows.unblock(variance)


def window_variance(a: FloatArray, period: int, ddof: int) -> FloatArray:
    return window_moments(a, period, ddof)[1]


def window_max(a: FloatArray, period: int) -> FloatArray:
    """Largest value of each trailing window of ``period`` rows, from row ``period - 1`` on (exact)."""
    return _window_extreme(a, period, np.maximum)


def window_min(a: FloatArray, period: int) -> FloatArray:
    """Smallest value of each trailing window of ``period`` rows, from row ``period - 1`` on (exact)."""
    return _window_extreme(a, period, np.minimum)


def _window_extreme(a: FloatArray, period: int, pick: np.ufunc) -> FloatArray:
    # Doubling: after the step with span w, row i holds the extreme of the w rows ending at i + w - 1.
    # Windows of 1, 2, 4, ... rows take log2(period) passes; a last, overlapping step (harmless for an
    # extreme) tops the span up to exactly ``period``. Rows stay aligned to window *starts* until the end.
    # A series shorter than the window shrinks to an empty result on the way.
    extreme, span = a, 1
    while 2 * span <= period:
        extreme = pick(extreme[span:], extreme[:-span])
        span *= 2
    rest = period - span
    if rest:
        extreme = pick(extreme[rest:], extreme[:-rest])
    return extreme.copy() if extreme is a else np.asarray(extreme, dtype=np.float64)


class WindowSums:
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
