"""Recursive smoothing (EMA, Wilder, and filters built from them) along the time axis, fast on long series.

A first-order smoother ``y[t] = alpha * x[t] + (1 - alpha) * y[t - 1]`` is inherently sequential, and
``scipy.signal.lfilter`` walks it one row at a time (about 4 ns a row). On long 1-D series the recursion is
solved in blocks of ``_BLOCK`` rows instead. The engine takes any small linear filter whose states follow
``s[t] = A @ s[t-1] + b * x[t]``, ``A`` lower-triangular, with outputs ``C @ s[t]``: one EMA (one state), or
the MACD line and signal together (three states: the fast and slow EMAs, and the signal, which is driven by
their difference). Per block:

1. each output is the block's zero-state response, one matrix product with the block's lower-triangular
   transfer matrix (``C A^(j-i) b`` for ``j >= i``), which BLAS runs vectorised, plus the states carried
   into the block times ``C A^(j+1)``: a rank-``m`` update, done in place by BLAS;
2. the carried states follow a recursion over one row per block, ``s_after = A^B @ s_before + local_end``
   (``local_end``: the block's zero-state end). With ``A`` triangular it is a sequence of first-order
   recursions with known inputs, each solved the same way (in blocks of blocks) until short enough for
   ``lfilter``.

The work is bound by numpy's per-element cost: on this kind of machine (2.6 GHz, 1 MB L2) an operation over
a million float64 values costs 0.25-0.45 ms whether it adds or multiplies (0.2-0.3 ns a value from L2, more
when the values first come from memory), and each numpy or BLAS call about 1 us more. So the schedules are
chosen by how many passes they make, and run over chunks of ``CHUNK_ROWS`` rows. Two schedules:

- ``store``: pass 1 writes the zero-state outputs into their destinations and collects the local ends;
  pass 2 adds the carries in place. Best when producing the input is expensive (the true range reads three
  series; RSI's gains and moves take three operations): it is produced once.
- ``recompute``: pass 1 only computes the local ends (a thin matrix product, no writes); pass 2 produces the
  input again, computes the outputs in cache and writes them once. Best when the input is a plain series
  and there are several outputs (MACD: line and signal, and the histogram from them).

Either way a ``finish`` callback sees each chunk of final outputs while it is still in cache, so derived
series (RSI's ratio, MACD's histogram) cost no pass of their own.

Layouts follow what BLAS runs fastest: outputs and inputs are block-major (``(blocks, _BLOCK)`` views of the
series); the states are kept state-major (one contiguous row per state) for the block ends' recursions, and
the carries are applied from that layout directly (a product with a transposed operand, which OpenBLAS runs
with its small-matrix kernel: 15 us per chunk for one state against 31 us for the block-major product).

Every output is a sum of at most ``_BLOCK`` rounded products plus carried terms, so the error stays at a few
ulps of the values however long the series; tests pin it against the plain recursion. Every BLAS call is
kept small (at most 10**6 multiply-adds: OpenBLAS then uses its single-threaded small-matrix kernel, and starts
no threads): timings then do not depend on how busy the other cores are, and numpy's and scipy's BLAS
thread pools never compete.

Measured on 1M bars (2 cores), against TA-Lib in the same process:

- blocks of 8 rows in chunks of 122,880 rows (15,360 blocks) against the former blocks of 16 in chunks of
  32,768: the products run at 0.36 ns a row instead of 0.65, and the nine chunks cut the per-call overhead;
  RSI went from 1.9-2.0x TA-Lib's time to 1.5-1.6x, EMA from 0.8-0.9x to 0.5-0.65x, MACD from 2.1-2.2x to
  1.6-1.8x, ATR from 3.0-3.1x to 2.4-2.5x (ATR's true range alone takes four operations: see ``volatility``).
  Blocks of 8 in chunks of 32,768 were no faster than blocks of 16 (a product of only 4,096 blocks runs at
  0.48 ns a row, and the block ends double). The per-chunk arrays outgrow L2 either way; the number of calls
  matters more.

What was measured and dropped: blocks of 32 rows (an earlier measurement); a single-pass schedule solving
each chunk's block ends as it goes (``lfilter``'s per-call overhead, or a numpy two-level solve, costs more
than the second pass saves; the carry update costs about the same from memory as from cache, 0.25 against
0.2 ms); the triangular product
``trmm`` in place (slower than ``gemm`` into the destination); folding the carries into the products by
appending the states to each block's inputs (the copy costs what the update saves), or, for one state, by
adding the carried state into each block's first input (a strided update touches every cache line: 0.24 ms,
as much as the carry update it replaces); having BLAS write the local ends state-major directly (a transposed
operand takes OpenBLAS's general path: 1.36 ms against 0.6 for the block-major product and a transposing
copy), or as three matrix-vector products (1.2 ms).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dgemm
from scipy.signal import lfilter

from quant.indicators._arrays import FloatArray

ChunkSource = Callable[[int, int], Sequence[FloatArray]]
"""``source(start, stop)``: rows ``start .. stop - 1`` of every input channel, each a 1-D contiguous array."""

Finish = Callable[["Chunk"], None]

_BLOCK = 8  # rows per block: 8 multiply-adds a row in the matrix product, one carry per 8 rows
# Rows per chunk: 15360 blocks of 8, the most under OpenBLAS's limit for its single-threaded small-matrix kernel
# (10**6 multiply-adds; here 15360 x 8 x 8 = 983,040; one block more and it takes the general, threaded path).
# There blocks of 8 cost 0.36 ns a row against 0.65 for blocks of 16, and large chunks amortise the dozen numpy
# calls each chunk makes: against 98,304 rows, 8 % faster for ATR and MACD; 65,536 rows, 10-15 % slower.
CHUNK_ROWS = 15360 * _BLOCK
BLOCKED_FROM = 8192  # shorter series go straight to lfilter, which is as fast there and simpler


@dataclass(frozen=True, slots=True, eq=False)
class BlockFilter:
    """The per-block matrices of a linear filter with ``m`` states (see the module docstring).

    ``transfers[o][i, j]``: weight of input row ``i`` in output ``o`` at row ``j`` from a zero state;
    ``carries[o][j, k]``: weight of state ``k`` before the block in output ``o`` at row ``j`` (Fortran-ordered,
    as BLAS takes it), only up to the last state with a weight (MACD's line needs two of its three: the update
    is a product with that many terms, and two run 40 % faster than three);
    ``end_weights[i, k]``: weight of input row ``i`` in state ``k`` at the block's last row; an odd ``m > 1``
    gets a zero column (``k == m``): OpenBLAS runs an even count faster (3 -> 4 is 15-20 % quicker);
    ``block_transition``: ``A ** _BLOCK``, the states after a block from those before it, without input.
    """

    transfers: tuple[FloatArray, ...]
    carries: tuple[FloatArray, ...]
    end_weights: FloatArray
    block_transition: FloatArray
    state_is_output: bool  # one state, output as is: the local ends are the outputs' last rows


@functools.lru_cache(maxsize=64)
def block_filter(
    transition: tuple[tuple[float, ...], ...], gain: tuple[float, ...], outputs: tuple[tuple[float, ...], ...]
) -> BlockFilter:
    """Block matrices of ``s[t] = transition @ s[t-1] + gain * x[t]``, outputs ``outputs @ s[t]``."""
    a, b, c = (np.array(v, dtype=np.float64) for v in (transition, gain, outputs))
    if np.any(np.triu(a, 1)):
        raise ValueError("the state transition must be lower-triangular")
    powers = [np.eye(len(b))]  # A ** 0 .. A ** _BLOCK
    for _ in range(_BLOCK):
        powers.append(a @ powers[-1])
    impulse = np.array([p @ b for p in powers[:_BLOCK]])  # [l, k]: state k, l rows after a unit input
    offsets = np.arange(_BLOCK)
    lag = offsets[np.newaxis, :] - offsets[:, np.newaxis]  # how far row i is behind row j
    m = len(b)
    end_weights = np.zeros((_BLOCK, m + m % 2 if m > 1 else 1))
    end_weights[:, :m] = impulse[::-1]
    carries = [np.array([row @ p for p in powers[1:]]) for row in c]
    return BlockFilter(
        transfers=tuple(np.where(lag >= 0, (impulse @ row)[np.maximum(lag, 0)], 0.0) for row in c),
        carries=tuple(np.asfortranarray(carry[:, : _weighted(carry)]) for carry in carries),
        end_weights=end_weights,
        block_transition=powers[_BLOCK],
        state_is_output=c.shape == (1, 1) and c[0, 0] == 1.0,
    )


def _weighted(carry: FloatArray) -> int:
    """How many leading states have any weight in ``carry`` (at least one)."""
    used = np.flatnonzero(np.any(carry != 0.0, axis=0))
    return int(used[-1]) + 1 if len(used) else 1


def single_pole(alpha: float) -> BlockFilter:
    """``y[t] = alpha * x[t] + (1 - alpha) * y[t-1]``: an EMA (``2 / (period + 1)``) or Wilder (``1 / period``)."""
    return block_filter(((1.0 - alpha,),), (alpha,), ((1.0,),))


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows ``first .. last - 1`` of the final outputs, as ``outputs[channel][output]`` 1-D views, and
    ``states[k, channel, i]``: state ``k`` before the chunk's ``i``-th block (the last one maybe partial)."""

    first: int
    last: int
    outputs: list[list[FloatArray]]
    states: FloatArray


def run_blocked(
    source: ChunkSource,
    n: int,
    filt: BlockFilter,
    initials: Sequence[Sequence[float]],
    dests: Sequence[Sequence[FloatArray | None]],
    finish: Finish | None = None,
    *,
    store: bool,
) -> None:
    """Filter ``n`` rows of each input channel of ``source``, states starting at ``initials[channel]``.

    Output ``o`` of channel ``ch`` goes into the 1-D contiguous ``dests[ch][o]`` (``n`` rows), or, when that
    is ``None``, only into a chunk buffer handed to ``finish``. ``store`` picks the schedule (module
    docstring); it needs every destination. The channels share the filter.
    """
    if any(dest is not None and not dest.flags.c_contiguous for row in dests for dest in row):
        raise ValueError("destinations must be C-contiguous: blocks are reshaped views of them")
    local_ends = _first_pass(source, n, filt, len(initials), dests, store)
    states = _block_states(local_ends, filt, initials)
    m = len(filt.block_transition)
    buffers = [[np.empty(min(n, CHUNK_ROWS)) if dest is None else None for dest in row] for row in dests]
    slab = np.empty(m * min(n // _BLOCK, CHUNK_ROWS // _BLOCK))  # one channel's states, contiguous, for BLAS
    for first in range(0, n, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, n)
        rows = last - first
        whole = rows // _BLOCK * _BLOCK
        b0, b1 = first // _BLOCK, (first + whole) // _BLOCK
        inputs = None if store else source(first, last)
        outputs: list[list[FloatArray]] = []
        for ch, row in enumerate(dests):
            if m == 1:  # one contiguous row already is a contiguous (1, blocks) matrix
                carried = states[:, ch, b0:b1]
            else:
                carried = slab[: m * (b1 - b0)].reshape(m, b1 - b0)
                carried[...] = states[:, ch, b0:b1]
            outputs.append([])
            for o, (transfer, carry) in enumerate(zip(filt.transfers, filt.carries, strict=True)):
                dest = row[o]
                y = dest[first:last] if dest is not None else _required(buffers[ch][o])[:rows]
                yb = y[:whole].reshape(-1, _BLOCK)
                if inputs is not None:
                    np.matmul(inputs[ch][:whole].reshape(-1, _BLOCK), transfer, out=yb)
                if whole:
                    _add_carries(yb, carry, carried[: carry.shape[1]])
                if whole < rows:  # the last, partial block
                    tail = carry[: rows - whole] @ states[: carry.shape[1], ch, b1]
                    if inputs is not None:
                        y[whole:] = tail + _padded(inputs[ch][whole:]) @ transfer[:, : rows - whole]
                    else:
                        y[whole:] += tail
                outputs[ch].append(y)
        if finish is not None:
            finish(Chunk(first, last, outputs, states[:, :, b0 : -(-last // _BLOCK)]))


def _first_pass(
    source: ChunkSource,
    n: int,
    filt: BlockFilter,
    channels: int,
    dests: Sequence[Sequence[FloatArray | None]],
    store: bool,
) -> FloatArray:
    """The full blocks' local ends ``[channel, k, block]``, state-major so that the recursions read
    contiguous rows (a strided column costs about 1 ns a value), zero-padded to a whole number of blocks;
    with ``store``, the zero-state outputs too."""
    m = len(filt.block_transition)
    full_blocks = n // _BLOCK
    local_ends = np.empty((channels, m, -(-full_blocks // _BLOCK) * _BLOCK))  # the recursion runs in blocks too
    local_ends[:, :, full_blocks:] = 0.0
    block_major = np.empty((min(full_blocks, CHUNK_ROWS // _BLOCK), filt.end_weights.shape[1]))
    for first in range(0, n if store else full_blocks * _BLOCK, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, n)
        whole = first + (last - first) // _BLOCK * _BLOCK
        span = slice(first // _BLOCK, whole // _BLOCK)
        for ch, x in enumerate(source(first, last)):
            xb = x[: whole - first].reshape(-1, _BLOCK)
            if store:
                for o, transfer in enumerate(filt.transfers):
                    dest = _required(dests[ch][o])
                    np.matmul(xb, transfer, out=dest[first:whole].reshape(-1, _BLOCK))
                    if whole < last:
                        dest[whole:last] = _padded(x[whole - first :]) @ transfer[:, : last - whole]
            if store and filt.state_is_output:
                local_ends[ch, 0, span] = _required(dests[ch][0])[first + _BLOCK - 1 : whole : _BLOCK]
            else:  # block-major, which BLAS runs faster, then transposed while in cache
                ends = block_major[: len(xb)]
                np.matmul(xb, filt.end_weights, out=ends)
                local_ends[ch, :, span] = ends[:, :m].T
    return local_ends


def _add_carries(blocks: FloatArray, carry: FloatArray, carried: FloatArray) -> None:
    """``blocks += (carry @ carried).T``: ``(_BLOCK, m) @ (m, blocks)``, in place, for C-contiguous ``carried``
    (state-major, as the recursion leaves it). ``blocks.T`` and ``carried.T`` are Fortran-ordered, so BLAS
    reads and updates them where they lie."""
    target = blocks.T
    updated = dgemm(1.0, carry, carried.T, trans_b=True, beta=1.0, c=target, overwrite_c=True)
    if updated is not target:  # never expected (f2py hands back the array it updated); keeps the result right
        target[...] = updated


def _required(a: FloatArray | None) -> FloatArray:
    if a is None:
        raise ValueError("the store schedule writes every output to its destination")
    return a


def _padded(x: FloatArray) -> FloatArray:
    block = np.zeros(_BLOCK)
    block[: len(x)] = x
    return block


def _block_states(local_ends: FloatArray, filt: BlockFilter, initials: Sequence[Sequence[float]]) -> FloatArray:
    """``[k, channel, b]``: state ``k`` before block ``b`` (``b`` up to the number of full blocks), from the
    full blocks' local ends ``[channel, k, b]`` (zero-padded to whole blocks of blocks; used up as scratch).
    With ``A`` lower-triangular, state ``k`` after a block is ``A[k, k] ** B`` times itself before it plus a
    known drive: its local end and the earlier states' terms. The channels share the filter, so each state's
    recursion runs for all channels at once."""
    a = filt.block_transition
    channels, m, padded = local_ends.shape
    states = np.empty((m, channels, 1 + padded))
    scratch = np.empty((channels, padded)) if m > 1 else local_ends[:, 0]
    for k in range(m):
        drive = local_ends[:, k]
        for j in range(k):
            if a[k, j] != 0.0:
                drive += np.multiply(a[k, j], states[j, :, :padded], out=scratch)
        initial = np.array([values[k] for values in initials], dtype=np.float64)
        states[k, :, 0] = initial
        first_order(drive, float(a[k, k]), initial, out=states[k, :, 1:])
    return states


def first_order(u: FloatArray, decay: float, initial: FloatArray, out: FloatArray) -> None:
    """``out[:, i] = decay * out[:, i-1] + u[:, i]`` with ``out[:, -1] = initial``, for ``(rows, n)`` ``u``
    (``out``'s rows contiguous): the block ends' recursion, itself solved in blocks when long and ``n`` is a
    whole number of blocks, else by ``lfilter``."""
    rows, n = u.shape
    if n < BLOCKED_FROM or n % _BLOCK or decay == 0.0:
        out[...] = lfilter([1.0], [1.0, -decay], u, axis=1, zi=decay * initial[:, np.newaxis])[0]
        return
    filt = block_filter(((decay,),), (1.0,), ((1.0,),))
    step = CHUNK_ROWS // _BLOCK
    for row in range(rows):
        inputs, outputs = u[row].reshape(-1, _BLOCK), out[row].reshape(-1, _BLOCK)
        for first in range(0, len(inputs), step):
            np.matmul(inputs[first : first + step], filt.transfers[0], out=outputs[first : first + step])
    per_row = n // _BLOCK
    ends = np.zeros((rows, -(-per_row // _BLOCK) * _BLOCK))
    ends[:, :per_row] = out[:, _BLOCK - 1 :: _BLOCK]
    before = np.empty((rows, 1 + ends.shape[1]))  # [row, b]: the value before block b
    before[:, 0] = initial
    first_order(ends, float(filt.block_transition[0, 0]), initial, out=before[:, 1:])
    for row in range(rows):
        outputs, carried = out[row].reshape(-1, _BLOCK), before[np.newaxis, row, :per_row]
        for first in range(0, per_row, step):
            _add_carries(outputs[first : first + step], filt.carries[0], carried[:, first : first + step])


def _lfilter(x: FloatArray, gain: float, decay: float, initial: FloatArray | float) -> FloatArray:
    # Direct form II transposed: with one state, y[0] = b0 * x[0] + z0, so z0 = decay * y[-1].
    zi = (decay * np.asarray(initial, dtype=np.float64))[np.newaxis, ...]
    smoothed, _ = lfilter([gain], [1.0, -decay], x, axis=0, zi=zi)
    return np.asarray(smoothed, dtype=np.float64)


def seeded_smoother(a: FloatArray, period: int, alpha: float, out: FloatArray | None = None) -> FloatArray:
    """``y[t] = alpha * a[t] + (1 - alpha) * y[t-1]``, seeded at row ``period - 1`` with ``mean(a[:period])``.

    NaN before the seed; all-NaN when ``a`` is shorter than ``period``. ``a`` is 1-D or 2-D ``(time,
    symbols)``; the result goes into ``out`` (same shape, must not overlap ``a``) when given.
    """
    result = np.empty(a.shape, dtype=np.float64) if out is None else out
    if len(a) < period:
        result.fill(np.nan)
        return result
    result[: period - 1] = np.nan
    seed = a[:period].mean(axis=0)
    result[period - 1] = seed
    smooth(a[period:], alpha, seed, result[period:])
    return result


def smooth(x: FloatArray, alpha: float, initial: FloatArray | float, out: FloatArray) -> None:
    """``out[t] = alpha * x[t] + (1 - alpha) * out[t-1]`` along axis 0, with ``out[-1] = initial``."""
    start = np.asarray(initial, dtype=np.float64)
    if len(x) < BLOCKED_FROM or alpha == 1.0:
        out[...] = _lfilter(x, alpha, 1.0 - alpha, start)
    elif x.ndim == 2:
        for column in range(x.shape[1]):
            smooth(x[:, column], alpha, start[column], out[:, column])
    elif not (x.flags.c_contiguous and out.flags.c_contiguous):
        contiguous = np.empty(len(x))
        smooth(np.ascontiguousarray(x), alpha, start, contiguous)
        out[...] = contiguous
    else:
        run_blocked(lambda i, j: (x[i:j],), len(x), single_pole(alpha), [[float(start)]], [[out]], store=True)
