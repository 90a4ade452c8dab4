"""First-order recursive smoothing (EMA, Wilder) along the time axis, fast on long series.

``y[t] = gain * x[t] + decay * y[t - 1]`` is inherently sequential, and ``scipy.signal.lfilter`` walks it one
row at a time (about 4 ns a row). On long 1-D series the recursion is solved in blocks of ``_BLOCK`` rows:

1. each block is filtered from a zero state by one matrix product with its lower-triangular transfer matrix
   (``gain * decay ** (j - i)`` for ``j >= i``), which BLAS runs vectorised;
2. the true value at each block's last row is its zero-state value plus ``decay ** _BLOCK`` times the
   previous block's: a first-order recursion over one row per block, solved the same way (recursively)
   until it is short enough for ``lfilter``;
3. each block then adds its carry-in times ``decay ** (j + 1)``, a rank-one update done in place.

Every output is a sum of at most ``_BLOCK`` rounded products plus one carried term, so the error stays at a
few ulps of the values however long the series; tests pin it against the plain recursion. Every BLAS call
is kept small (cache-sized, and below OpenBLAS's thresholds for starting threads): timings then do not
depend on how busy the other cores are, and numpy's and scipy's BLAS thread pools never compete.

Inputs can be arrays, or (1-D only) a ``ChunkSource`` that produces the input a chunk at a time, so a
derived input (a price change, a true range) is computed in cache and never stored whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg.blas import dger
from scipy.signal import lfilter

from quant.indicators._arrays import FloatArray

ChunkSource = Callable[[int, int], FloatArray]
"""``source(start, stop)``: input rows ``start .. stop - 1`` of a 1-D series, as a 1-D array."""

_BLOCK = 16  # rows per block: 16 multiply-adds a row in the matrix product, one carry per 16 rows
CHUNK_ROWS = 1024 * _BLOCK  # rows per matrix product (or per source call): cache-sized, single-threaded BLAS
_RANK_ONE_ROWS = 512  # blocks per rank-one update: 8192 cells, single-threaded in OpenBLAS
_BLOCKED_FROM = 8192  # shorter series go straight to lfilter, which is as fast there and simpler


def seeded_smoother(a: FloatArray, period: int, alpha: float, out: FloatArray | None = None) -> FloatArray:
    """``y[t] = alpha * a[t] + (1 - alpha) * y[t-1]``, seeded at row ``period - 1`` with ``mean(a[:period])``.

    NaN before the seed; all-NaN when ``a`` is shorter than ``period``. ``a`` is 1-D or 2-D ``(time,
    symbols)``; the result goes into ``out`` (same shape, must not overlap ``a``) when given.
    """
    if a.ndim == 1:
        return seeded_smoother_chunks(lambda i, j: a[i:j], len(a), period, alpha, out)
    result = np.empty(a.shape, dtype=np.float64) if out is None else out
    if len(a) < period:
        result.fill(np.nan)
        return result
    result[: period - 1] = np.nan
    seed = a[:period].mean(axis=0)
    result[period - 1] = seed
    _recurrence(a[period:], alpha, 1.0 - alpha, seed, result[period:])
    return result


def seeded_smoother_chunks(
    source: ChunkSource, n: int, period: int, alpha: float, out: FloatArray | None = None
) -> FloatArray:
    """``seeded_smoother`` of a 1-D input of ``n`` rows produced chunk by chunk by ``source``."""
    result = np.empty(n, dtype=np.float64) if out is None else out
    if n < period:
        result.fill(np.nan)
        return result
    result[: period - 1] = np.nan
    seed = float(source(0, period).mean())
    result[period - 1] = seed
    rest = n - period
    if rest:
        decay = 1.0 - alpha

        def shifted(start: int, stop: int) -> FloatArray:
            return source(period + start, period + stop)

        if rest < _BLOCKED_FROM or decay == 0.0:
            _recurrence(shifted(0, rest), alpha, decay, seed, result[period:])
        else:
            _blocked(shifted, rest, alpha, decay, seed, result[period:])
    return result


def _recurrence(x: FloatArray, gain: float, decay: float, initial: FloatArray | float, out: FloatArray) -> None:
    """``out[t] = gain * x[t] + decay * out[t-1]`` along axis 0, with ``out[-1] = initial``."""
    start = np.asarray(initial, dtype=np.float64)
    if len(x) >= _BLOCKED_FROM and decay != 0.0:
        if x.ndim == 1:
            _blocked(lambda i, j: x[i:j], len(x), gain, decay, float(start), out)
        else:
            for column in range(x.shape[1]):
                _recurrence(x[:, column], gain, decay, start[column], out[:, column])
        return
    # Direct form II transposed: with one state, y[0] = b0 * x[0] + z0, so z0 = decay * y[-1].
    smoothed, _ = lfilter([gain], [1.0, -decay], x, axis=0, zi=(decay * start)[np.newaxis, ...])
    out[...] = smoothed


def _blocked(source: ChunkSource, n: int, gain: float, decay: float, initial: float, out: FloatArray) -> None:
    """The blocked recursion (module docstring) of ``n >= _BLOCK`` source rows into 1-D ``out``."""
    if not out.flags.c_contiguous:
        contiguous = np.empty(n, dtype=np.float64)
        _blocked(source, n, gain, decay, initial, contiguous)
        out[...] = contiguous
        return
    block = _BLOCK
    head = n - n % block
    offsets = np.arange(block)
    lag = offsets[np.newaxis, :] - offsets[:, np.newaxis]  # lag[i, j] = j - i: how far row i is behind row j
    transfer = np.where(lag >= 0, gain * decay ** np.maximum(lag, 0), 0.0)

    # Pass 1: every block filtered from a zero state, chunk by chunk; keep each block's last value.
    blocks = out[:head].reshape(-1, block)
    local_ends = np.empty(len(blocks))
    for first in range(0, head, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, head)
        chunk = blocks[first // block : last // block]
        np.matmul(source(first, last).reshape(-1, block), transfer, out=chunk)
        local_ends[first // block : last // block] = chunk[:, -1]
    # The true value at each block's last row: its zero-state value + decay ** block * the previous block's.
    ends = np.empty_like(local_ends)
    _recurrence(local_ends, 1.0, decay**block, initial, ends)
    carried_in = np.concatenate(([initial], ends[:-1]))
    # Pass 2: each block adds its carry-in times decay ** (j + 1). ``rows.T`` is Fortran-ordered, so BLAS
    # applies the rank-one update in place.
    carry_factor = decay ** (offsets + 1.0)
    for first in range(0, len(blocks), _RANK_ONE_ROWS):
        rows = blocks[first : first + _RANK_ONE_ROWS]
        updated = dger(1.0, carry_factor, carried_in[first : first + _RANK_ONE_ROWS], a=rows.T, overwrite_a=True)
        if not np.shares_memory(updated, rows):  # never expected; keeps the result right if BLAS copied
            rows[...] = updated.T
    if head < n:
        _recurrence(source(head, n), gain, decay, float(ends[-1]), out[head:])
