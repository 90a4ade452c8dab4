"""First-order recursive smoothing (EMA, Wilder) along the time axis, fast on long series.

``y[t] = gain * x[t] + decay * y[t - 1]`` is inherently sequential, and ``scipy.signal.lfilter`` walks it one
row at a time (about 4 ns a row). On long 1-D series the recursion is solved in blocks instead:

1. rows are cut into blocks of ``_BLOCK``; each block is filtered from a zero state by one matrix product
   with the block's lower-triangular transfer matrix (``gain * decay ** (j - i)`` for ``j >= i``), which
   BLAS runs vectorised and in parallel;
2. the value each block hands to the next (its last row, with everything before it carried in) is itself a
   first-order recursion, with factor ``decay ** _BLOCK`` over one row per block: solved the same way,
   recursively, until it is short enough for ``lfilter``;
3. each block then adds its carry-in times ``decay ** (j + 1)``, a rank-one update done in place.

Every output is a sum of at most ``_BLOCK`` rounded products plus one carried term, so the error stays at a
few ulps of the values however long the series; tests pin it against the plain recursion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg.blas import dger
from scipy.signal import lfilter

from quant.indicators._arrays import FloatArray

# Rows per block: 16 keeps the matrix product cheap (16 multiply-adds a row) and the carries few.
_BLOCK = 16
# Below this many rows lfilter is as fast as the blocked form and simpler.
_BLOCKED_FROM = 8192
# Rows per matrix product, and per chunk when the input is produced on the fly: small enough to stay in
# the CPU cache and, with _RANK_ONE_ROWS blocks per rank-one update, below OpenBLAS's thresholds for
# starting threads, so the timing does not depend on how busy the other cores are.
CHUNK_ROWS = 1024 * _BLOCK
_RANK_ONE_ROWS = 512

ChunkSource = Callable[[int, int], FloatArray]
"""``source(start, stop)`` returns input rows ``start .. stop - 1`` as a 1-D array (it may reuse a buffer)."""


def seeded_smoother(a: FloatArray, period: int, alpha: float) -> FloatArray:
    """``y[t] = alpha * a[t] + (1 - alpha) * y[t-1]``, seeded at row ``period - 1`` with ``mean(a[:period])``.

    NaN before the seed; all-NaN when ``a`` is shorter than ``period``.
    """
    out = np.empty(a.shape, dtype=np.float64)
    if len(a) < period:
        out.fill(np.nan)
        return out
    out[: period - 1] = np.nan
    seed = a[:period].mean(axis=0)
    out[period - 1] = seed
    exponential_filter(a[period:], alpha, seed, out=out[period:])
    return out


def exponential_filter(
    x: FloatArray, alpha: float, initial: FloatArray | float, out: FloatArray | None = None
) -> FloatArray:
    """``y[t] = alpha * x[t] + (1 - alpha) * y[t-1]`` along axis 0, with ``y[-1] = initial``.

    ``x`` is 1-D or 2-D ``(time, symbols)``; ``initial`` has the shape of one row. Written into ``out``
    (same shape as ``x``) when given.
    """
    return _recurrence(x, alpha, 1.0 - alpha, initial, out)


def exponential_filter_chunks(
    source: ChunkSource, n: int, alpha: float, initial: float, out: FloatArray | None = None
) -> FloatArray:
    """``exponential_filter`` of a 1-D input of ``n`` rows produced chunk by chunk by ``source``.

    Lets a caller compute its input (a true range, say) one cache-sized chunk at a time, so the input never
    makes a round trip through main memory.
    """
    if n < _BLOCKED_FROM or alpha == 1.0:
        return _recurrence(source(0, n), alpha, 1.0 - alpha, initial, out)
    return _blocked(source, n, alpha, 1.0 - alpha, initial, out)


def _recurrence(
    x: FloatArray, gain: float, decay: float, initial: FloatArray | float, out: FloatArray | None = None
) -> FloatArray:
    start = np.asarray(initial, dtype=np.float64)
    result = np.empty(x.shape, dtype=np.float64) if out is None else out
    if len(x) >= _BLOCKED_FROM and decay != 0.0:
        if x.ndim == 1:
            contiguous = np.ascontiguousarray(x)
            return _blocked(lambda i, j: contiguous[i:j], len(x), gain, decay, float(start), result)
        for j in range(x.shape[1]):
            result[:, j] = _recurrence(x[:, j], gain, decay, start[j])
        return result
    # Direct form II transposed: with one state, y[0] = b0 * x[0] + z0, so z0 = decay * y[-1].
    smoothed, _ = lfilter([gain], [1.0, -decay], x, axis=0, zi=(decay * start)[np.newaxis, ...])
    result[...] = smoothed
    return result


def _blocked(
    source: ChunkSource, n: int, gain: float, decay: float, initial: float, out: FloatArray | None
) -> FloatArray:
    """The blocked recursion into ``out`` (1-D, C-contiguous, ``n`` rows) or a new array."""
    if out is None or not out.flags.c_contiguous:
        result = _blocked(source, n, gain, decay, initial, np.empty(n, dtype=np.float64))
        if out is not None:
            out[...] = result
        return result if out is None else out
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
    ends = _recurrence(local_ends, 1.0, decay**block, initial)
    carried_in = np.concatenate(([initial], ends[:-1]))
    # Pass 2: each block adds its carry-in times decay ** (j + 1). blocks.T is Fortran-ordered, so BLAS
    # applies the rank-one update in place.
    carry_factor = decay ** (offsets + 1.0)
    for first in range(0, len(blocks), _RANK_ONE_ROWS):
        rows = blocks[first : first + _RANK_ONE_ROWS]
        updated = dger(1.0, carry_factor, carried_in[first : first + _RANK_ONE_ROWS], a=rows.T, overwrite_a=True)
        if not np.shares_memory(updated, rows):  # never expected; keeps the result right if BLAS copied
            rows[...] = updated.T
    state = float(ends[-1])
    if head < n:
        out[head:] = _recurrence(source(head, n), gain, decay, state)
    return out
