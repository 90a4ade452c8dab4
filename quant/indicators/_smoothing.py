"""First-order recursive smoothing (EMA, Wilder) along the time axis, fast on long series.

``y[t] = gain * x[t] + decay * y[t - 1]`` is inherently sequential, and ``scipy.signal.lfilter`` walks it one
row at a time (about 4 ns a row). On long 1-D series the recursion is solved in blocks of ``_BLOCK`` rows:

1. each block is filtered from a zero state by one matrix product with its lower-triangular transfer matrix
   (``gain * decay ** (j - i)`` for ``j >= i``), which BLAS runs vectorised;
2. the true value at each block's last row is its zero-state value plus ``decay ** _BLOCK`` times the
   previous block's: a first-order recursion over one row per block, solved the same way (recursively)
   until it is short enough for ``lfilter``;
3. each block then adds its carry-in times ``decay ** (j + 1)``: a rank-one update, done in place by BLAS.

A weighted sum of such filters over one input (the MACD line is ``EMA(fast) - EMA(slow)``) runs as one pass:
the weighted transfer matrices are summed, each filter keeps its own carries, and the update of step 3 has
one rank per filter.

Every output is a sum of at most ``_BLOCK`` rounded products plus one carried term, so the error stays at a
few ulps of the values however long the series; tests pin it against the plain recursion. Every BLAS call
is kept small (cache-sized, and below OpenBLAS's thresholds for starting threads): timings then do not
depend on how busy the other cores are, and numpy's and scipy's BLAS thread pools never compete.

Inputs can be arrays, or (1-D only) a ``ChunkSource`` that produces the input a chunk at a time, so a
derived input (a price change, a true range) is computed in cache and never stored whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg.blas import dgemm
from scipy.signal import lfilter

from quant.indicators._arrays import FloatArray

ChunkSource = Callable[[int, int], FloatArray]
"""``source(start, stop)``: input rows ``start .. stop - 1`` of a 1-D series, as a 1-D array."""

_BLOCK = 16  # rows per block: 16 multiply-adds a row in the matrix product, one carry per 16 rows
CHUNK_ROWS = 1024 * _BLOCK  # rows per matrix product (or per source call): cache-sized, single-threaded BLAS
_CARRY_ROWS = 512  # blocks per carry update: 8192 cells, single-threaded in OpenBLAS
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
    if n > period:

        def shifted(start: int, stop: int) -> FloatArray:
            return source(period + start, period + stop)

        _filter_series(shifted, n - period, (Pole(alpha, 1.0 - alpha, seed),), result[period:])
    return result


@dataclass(frozen=True, slots=True)
class Pole:
    """One filter ``e[t] = gain * x[t] + decay * e[t-1]`` with ``e[-1] = initial``, weighted in a sum."""

    gain: float
    decay: float
    initial: float
    weight: float = 1.0


def filter_sum(x: FloatArray, poles: Sequence[Pole], out: FloatArray) -> None:
    """``out[t] = sum(pole.weight * e_pole[t])``: several first-order filters of one 1-D input, one pass."""
    _filter_series(lambda i, j: x[i:j], len(x), poles, out)


def _recurrence(x: FloatArray, gain: float, decay: float, initial: FloatArray | float, out: FloatArray) -> None:
    """``out[t] = gain * x[t] + decay * out[t-1]`` along axis 0, with ``out[-1] = initial``."""
    start = np.asarray(initial, dtype=np.float64)
    if x.ndim == 1:
        _filter_series(lambda i, j: x[i:j], len(x), (Pole(gain, decay, float(start)),), out)
    elif len(x) >= _BLOCKED_FROM:
        for column in range(x.shape[1]):
            _recurrence(x[:, column], gain, decay, start[column], out[:, column])
    else:
        out[...] = _lfilter(x, gain, decay, start)


def _filter_series(source: ChunkSource, n: int, poles: Sequence[Pole], out: FloatArray) -> None:
    """``filter_sum`` of ``n`` rows from ``source`` into 1-D ``out``: blocked when long, else ``lfilter``."""
    if n >= _BLOCKED_FROM and all(pole.decay != 0.0 for pole in poles):
        _blocked(source, n, poles, out)
        return
    x = source(0, n)
    out[...] = poles[0].weight * _lfilter(x, poles[0].gain, poles[0].decay, poles[0].initial)
    for pole in poles[1:]:
        out += pole.weight * _lfilter(x, pole.gain, pole.decay, pole.initial)


def _lfilter(x: FloatArray, gain: float, decay: float, initial: FloatArray | float) -> FloatArray:
    # Direct form II transposed: with one state, y[0] = b0 * x[0] + z0, so z0 = decay * y[-1].
    zi = (decay * np.asarray(initial, dtype=np.float64))[np.newaxis, ...]
    smoothed, _ = lfilter([gain], [1.0, -decay], x, axis=0, zi=zi)
    return np.asarray(smoothed, dtype=np.float64)


def _transfer(pole: Pole) -> FloatArray:
    """Block transfer matrix: ``[i, j]`` is the weight of row ``i`` in row ``j`` from a zero state."""
    offsets = np.arange(_BLOCK)
    lag = offsets[np.newaxis, :] - offsets[:, np.newaxis]  # how far row i is behind row j
    return np.where(lag >= 0, pole.gain * pole.decay ** np.maximum(lag, 0), 0.0)


def _blocked(source: ChunkSource, n: int, poles: Sequence[Pole], out: FloatArray) -> None:
    """The blocked recursion (module docstring) of ``n >= _BLOCK`` source rows into 1-D ``out``."""
    if not out.flags.c_contiguous:
        contiguous = np.empty(n, dtype=np.float64)
        _blocked(source, n, poles, contiguous)
        out[...] = contiguous
        return
    block, head = _BLOCK, n - n % _BLOCK
    transfers = [_transfer(pole) for pole in poles]
    combined = np.zeros((block, block))
    for pole, transfer in zip(poles, transfers, strict=True):
        combined += pole.weight * transfer
    end_weights = np.column_stack([t[:, -1] for t in transfers])  # each filter's zero-state block end
    single = len(poles) == 1 and poles[0].weight == 1.0  # then the block ends are the output's last column

    # Pass 1: every block filtered from a zero state, chunk by chunk; keep each filter's block ends.
    blocks = out[:head].reshape(-1, block)
    local_ends = np.empty((len(blocks), len(poles)))
    for first in range(0, head, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, head)
        span, x = slice(first // block, last // block), source(first, last).reshape(-1, block)
        np.matmul(x, combined, out=blocks[span])
        if single:
            local_ends[span, 0] = blocks[span, -1]
        else:
            np.matmul(x, end_weights, out=local_ends[span])
    # The true value at each block's last row: its zero-state value + decay ** block * the previous block's.
    carried_in = np.empty_like(local_ends)  # each filter's value just before each block
    last_values = []
    for k, pole in enumerate(poles):
        ends = np.empty(len(blocks))
        _recurrence(local_ends[:, k].copy(), 1.0, pole.decay**block, pole.initial, ends)
        carried_in[0, k], carried_in[1:, k] = pole.initial, ends[:-1]
        last_values.append(float(ends[-1]))
    # Pass 2: each block adds weight * carry-in * decay ** (j + 1), one rank per filter. ``rows.T`` is
    # Fortran-ordered, so BLAS applies the update in place.
    carry_factor = np.array([pole.weight * pole.decay ** np.arange(1.0, block + 1) for pole in poles])
    for first in range(0, len(blocks), _CARRY_ROWS):
        rows = blocks[first : first + _CARRY_ROWS]
        carries = carried_in[first : first + _CARRY_ROWS]
        updated = dgemm(1.0, carry_factor.T, carries.T, beta=1.0, c=rows.T, overwrite_c=True)
        if not np.shares_memory(updated, rows):  # never expected; keeps the result right if BLAS copied
            rows[...] = updated.T
    if head < n:
        states = [replace(pole, initial=value) for pole, value in zip(poles, last_values, strict=True)]
        _filter_series(lambda i, j: source(head + i, head + j), n - head, states, out[head:])
