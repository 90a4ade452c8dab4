"""Volume indicators: relative volume, on-balance volume (shares) and VWAP (price units)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quant.indicators._arrays import FloatArray, aligned, first_index, nan_like, period_of, series, where
from quant.indicators._windows import window_mean


def volume_ratio(volume: npt.ArrayLike, period: int = 20) -> FloatArray:
    """Volume divided by the mean volume of the previous ``period`` bars (the current bar excluded).

    A dimensionless multiple (3.0 = three times the usual volume). First value at index ``period``; NaN where
    the trailing mean is zero, since the ratio is undefined there. Raises ``ValueError`` on NaN or infinity.
    """
    v = series(volume, "volume")
    p = period_of(period)
    out = nan_like(v)
    if len(v) <= p:
        return out
    trailing_mean = window_mean(v[:-1], p)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[p:] = np.where(trailing_mean > 0.0, v[p:] / trailing_mean, np.nan)
    return out


def no_volume_window(volume: FloatArray, window: int) -> npt.NDArray[np.bool_]:
    """Per cell of a (time, symbols) panel: whether the bar or one of the ``window`` bars before it has a zero
    or missing (NaN) volume, so that a volume rule on it must be skipped."""
    missing = ~(volume > 0)  # NaN compares false
    counts = np.cumsum(missing, axis=0, dtype=np.int64)
    before = np.zeros_like(counts)
    if len(counts) > window + 1:
        before[window + 1 :] = counts[: -(window + 1)]
    result: npt.NDArray[np.bool_] = (counts - before) > 0
    return result


def obv(close: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
    """On-balance volume, in volume units: a running total of volume signed by the close-to-close move.

    ``obv[0] = 0``; then each bar adds its volume when the close rose, subtracts it when it fell, and leaves
    the total unchanged on an unchanged close. This is StockCharts' and Stock.Indicators' convention; TA-Lib
    starts at ``volume[0]`` instead, so its OBV is ours plus that constant. Bar 0's volume is never used. Exact
    while the total stays below 2**53 shares. Raises ``ValueError`` on NaN, infinity or a shape mismatch.
    """
    c, v = aligned(("close", close), ("volume", volume))
    out = np.zeros_like(c)
    if len(c) > 1:
        signed = np.sign(np.diff(c, axis=0))
        signed *= v[1:]
        np.cumsum(signed, axis=0, out=out[1:])
    return out


def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    session_starts: npt.ArrayLike | None = None,
) -> FloatArray:
    """Volume-weighted average price of each session so far, in price units.

    Each bar's price is its typical price ``(high + low + close) / 3``; the VWAP at bar ``t`` is the sum of
    ``price * volume`` over the session's bars up to and including ``t``, divided by their total volume, so the
    first bar of a session reads its own typical price. NaN while the session has traded no volume yet.

    ``session_starts`` says where sessions begin; bar 0 always begins one. It is either a boolean mask of
    shape ``(time,)`` (True on each session's first bar) or an integer array of first-bar indices, and it
    applies to every symbol of a ``(time, symbols)`` panel. ``None`` treats the whole series as one session
    (Stock.Indicators' ``GetVwap`` without a start date). Intraday bars typically start a session at each
    day's first bar.

    Raises ``ValueError`` on NaN, infinity, negative volume, a shape mismatch or a malformed
    ``session_starts``.
    """
    h, lo, c, v = aligned(("high", high), ("low", low), ("close", close), ("volume", volume))
    if (v < 0.0).any():
        index = first_index(v < 0.0)
        raise ValueError(f"volume must be non-negative, got {v[index]} at index {where(index)}")
    out = nan_like(c)
    if len(c) == 0:
        return out
    starts = _session_starts(session_starts, len(c))
    price_volume = h + lo
    price_volume += c
    price_volume /= 3.0
    price_volume *= v
    cumulative_pv = _session_totals(price_volume, starts)
    cumulative_v = _session_totals(v, starts)
    np.divide(cumulative_pv, cumulative_v, out=out, where=cumulative_v > 0.0)
    return out


def _session_totals(x: FloatArray, starts: npt.NDArray[np.intp]) -> FloatArray:
    """Running totals of ``x`` along time that restart at each session start.

    One cumulative sum per session (vectorised across symbols): rebasing a single running total instead
    would leave rounding residue of the earlier sessions' totals in every later bar.
    """
    totals = np.empty_like(x)
    for first, last in zip(starts, [*starts[1:], len(x)], strict=True):
        np.cumsum(x[first:last], axis=0, out=totals[first:last])
    return totals


def _session_starts(session_starts: npt.ArrayLike | None, n: int) -> npt.NDArray[np.intp]:
    """Sorted unique first-bar indices, always including 0."""
    if session_starts is None:
        return np.zeros(1, dtype=np.intp)
    given = np.asarray(session_starts)
    if given.ndim != 1:
        raise ValueError(f"session_starts must be 1-D, got {given.ndim}-D")
    if given.dtype == np.bool_:
        if len(given) != n:
            raise ValueError(f"a session_starts mask must have one entry per bar ({n}), got {len(given)}")
        indices = np.flatnonzero(given)
    elif np.issubdtype(given.dtype, np.integer) or given.size == 0:
        indices = given.astype(np.intp)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"session start indices must lie in [0, {n}), got {indices.min()}..{indices.max()}")
    else:
        raise ValueError(f"session_starts must be a boolean mask or integer indices, got dtype {given.dtype}")
    return np.union1d(indices, [0]).astype(np.intp)
