"""The trigger screen: which (bar, symbol) cells of a daily panel become events for deliberation.

This module owns the signal definitions and their ranking. Every signal at row ``t`` is computed from rows
``<= t`` only, so a replay sees exactly what a live session would have seen. Panels are ``(time, symbols)``
and may hold NaN (a symbol listed later, a halted day): a cell is usable only when its open, high, low and
close are all finite, with close > 0, and its volume is not negative. Each unbroken run of usable cells is
screened on its own, so the indicators restart their warm-up after a gap and unusable cells never trigger.
A zero or missing (NaN) volume does not make a cell unusable: the price signals still run, and
``volume_surge`` is skipped for every cell whose volume window (the bar and the ``vol_window`` bars
before it) holds such a bar (a zero in the baseline would inflate the ratio; closes-only data has none).

Signals, from strongest to weakest (when several fire on one cell, the first wins; ties cannot occur):

1. ``sigma_move``: ``|log return| >= move_sigma`` times the sample deviation of the previous
   ``vol_window`` log returns; direction = sign of the return. A shock is the most urgent news.
2. ``volume_surge``: ``volume_ratio(vol_window) >= volume_surge_ratio``; direction = sign of the bar's
   close-to-close return (a surge on an unchanged close has no direction and does not trigger).
3. ``golden_cross`` / ``death_cross``: SMA(fast) crosses above / below SMA(slow) at ``t``; long / short.
4. ``rsi_oversold`` / ``rsi_overbought``: RSI crosses below ``rsi_low`` / above ``rsi_high``; long / short.

Strength is in [0, 1]: for the threshold signals ``1 - threshold / value`` (0 at the threshold, 0.5 at
twice it); for crosses the gap between the SMAs as a share of 1 % of the slow SMA, capped at 1; for RSI
the depth past the threshold as a share of the room left (``(rsi_low - rsi) / rsi_low``).

Pure: no I/O, no clock; depends only on ``quant.indicators``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant import indicators

FloatArray = npt.NDArray[np.float64]

CROSS_FULL_STRENGTH_GAP = 0.01  # SMA gap (fraction of the slow SMA) at which a cross has strength 1

# Weakest first: a cell's code is the index + 1 of its winning signal, 0 for none.
_SIGNALS = ("rsi_oversold", "rsi_overbought", "golden_cross", "death_cross", "volume_surge", "sigma_move")
_CODE = {name: code for code, name in enumerate(_SIGNALS, start=1)}


@dataclass(frozen=True, slots=True)
class ScreenParams:
    """Screen thresholds. Periods in bars; RSI levels in points (0..100)."""

    volume_surge_ratio: float = 2.5
    move_sigma: float = 2.5
    fast: int = 20
    slow: int = 50
    rsi_period: int = 14
    rsi_low: float = 30.0
    rsi_high: float = 70.0
    vol_window: int = 20  # bars for both the volume baseline and the return deviation

    def __post_init__(self) -> None:
        for name in ("volume_surge_ratio", "move_sigma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")
        if not 0 < self.rsi_low < self.rsi_high < 100:
            raise ValueError(f"need 0 < rsi_low < rsi_high < 100, got {self.rsi_low}, {self.rsi_high}")
        if min(self.fast, self.slow, self.rsi_period) < 1 or self.vol_window < 2:
            raise ValueError("periods must be at least 1 bar (vol_window at least 2)")


@dataclass(frozen=True, slots=True)
class Trigger:
    """One event-worthy cell: panel row (bar) and column (symbol), the winning signal and its strength."""

    row: int
    column: int
    signal: str
    direction: str  # "long" | "short"
    strength: float  # 0..1


def screen_panel(
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    params: ScreenParams = ScreenParams(),
) -> list[Trigger]:
    """Triggers of a ``(time, symbols)`` OHLCV panel, sorted by (row, column); at most one per cell.

    Raises ``ValueError`` if the five panels are not 2-D arrays of one shape.
    """
    o, h, lo, c, v = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close, volume))
    if c.ndim != 2 or any(a.shape != c.shape for a in (o, h, lo, v)):
        shapes = [np.shape(a) for a in (o, h, lo, c, v)]
        raise ValueError(f"open, high, low, close, volume must be 2-D (time, symbols) of one shape, got {shapes}")
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        usable &= (c > 0) & ~(v < 0)  # a NaN volume is "missing", not unusable

    code = np.zeros(c.shape, dtype=np.int8)
    direction = np.zeros(c.shape, dtype=np.int8)
    strength = np.zeros(c.shape, dtype=np.float64)
    # Symbols whose usable runs coincide are screened together, so a clean panel is one vectorised pass.
    for (start, stop), columns in _runs(usable).items():
        block = (slice(start, stop), columns)
        block_code, block_direction, block_strength = _screen_block(c[block], v[block], params)
        code[block], direction[block], strength[block] = block_code, block_direction, block_strength

    rows, cols = np.nonzero(code)  # row-major: already sorted by (row, column)
    return [
        Trigger(
            row=int(t),
            column=int(s),
            signal=_SIGNALS[code[t, s] - 1],
            direction="long" if direction[t, s] > 0 else "short",
            strength=float(strength[t, s]),
        )
        for t, s in zip(rows.tolist(), cols.tolist(), strict=True)
    ]


def _volume_ratio_where_known(volume: FloatArray, window: int) -> FloatArray:
    """``volume_ratio`` with NaN wherever the volume window holds a zero or missing volume."""
    known = np.where(volume > 0, volume, 0.0)
    ratio = indicators.volume_ratio(known, window)
    ratio[indicators.no_volume_window(volume, window)] = np.nan
    return ratio


def _runs(usable: npt.NDArray[np.bool_]) -> dict[tuple[int, int], list[int]]:
    """Maximal runs of usable rows per column, grouped: (start, stop) -> columns having that run."""
    padded = np.zeros((usable.shape[0] + 2, usable.shape[1]), dtype=np.int8)
    padded[1:-1] = usable
    edges = np.diff(padded, axis=0)
    # Transposed, nonzero walks column by column in time order, so the k-th start pairs with the k-th stop.
    start_columns, start_rows = np.nonzero(edges.T == 1)
    _, stop_rows = np.nonzero(edges.T == -1)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for column, start, stop in zip(start_columns.tolist(), start_rows.tolist(), stop_rows.tolist(), strict=True):
        groups[(start, stop)].append(column)
    return groups


def _screen_block(
    close: FloatArray, volume: FloatArray, params: ScreenParams
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8], FloatArray]:
    """Winning signal code, direction and strength per cell of a NaN-free (time, symbols) block."""
    shape = close.shape
    code = np.zeros(shape, dtype=np.int8)
    direction = np.zeros(shape, dtype=np.int8)  # +1 long, -1 short
    strength = np.zeros(shape, dtype=np.float64)

    def mark(name: str, fired: npt.NDArray[np.bool_], sign: npt.ArrayLike, score: FloatArray) -> None:
        # Applied weakest first, so a stronger signal overwrites a weaker one on the same cell.
        code[fired] = _CODE[name]
        direction[fired] = np.broadcast_to(sign, shape)[fired]
        strength[fired] = np.clip(score[fired], 0.0, 1.0)

    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = indicators.rsi(close, params.rsi_period)
        rsi_before = _previous(rsi)
        mark(
            "rsi_oversold",
            (rsi_before >= params.rsi_low) & (rsi < params.rsi_low),
            1,
            (params.rsi_low - rsi) / params.rsi_low,
        )
        mark(
            "rsi_overbought",
            (rsi_before <= params.rsi_high) & (rsi > params.rsi_high),
            -1,
            (rsi - params.rsi_high) / (100.0 - params.rsi_high),
        )

        sma_fast = indicators.sma(close, params.fast)
        sma_slow = indicators.sma(close, params.slow)
        gap = sma_fast - sma_slow
        gap_before = _previous(gap)
        cross_strength = np.abs(gap) / (sma_slow * CROSS_FULL_STRENGTH_GAP)
        mark("golden_cross", (gap_before <= 0) & (gap > 0), 1, cross_strength)
        mark("death_cross", (gap_before >= 0) & (gap < 0), -1, cross_strength)

        log_return = np.full(shape, np.nan)
        log_return[1:] = np.diff(np.log(close), axis=0)
        return_sign = np.zeros(shape, dtype=np.int8)
        return_sign[1:] = np.sign(log_return[1:])

        ratio = _volume_ratio_where_known(volume, params.vol_window)
        mark(
            "volume_surge",
            (ratio >= params.volume_surge_ratio) & (return_sign != 0),
            return_sign,
            1.0 - params.volume_surge_ratio / ratio,
        )

        # deviation_before[t]: sample deviation of the returns at rows t - vol_window .. t - 1, so the move
        # is measured against a scale it did not help set. The rolling value at index j of log_return[1:]
        # covers returns up to row j + 1; it lands two rows later.
        deviation_before = np.full(shape, np.nan)
        if len(close) > 1:
            deviation_before[1:] = _previous(indicators.rolling_std(log_return[1:], params.vol_window, ddof=1))
        z = np.abs(log_return) / deviation_before
        mark(
            "sigma_move",
            (deviation_before > 0) & (z >= params.move_sigma),
            return_sign,
            1.0 - params.move_sigma / z,
        )
    return code, direction, strength


def _previous(a: FloatArray) -> FloatArray:
    """``a`` shifted one row later: row t holds row t - 1, row 0 is NaN."""
    out = np.full(a.shape, np.nan)
    out[1:] = a[:-1]
    return out
