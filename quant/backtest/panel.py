"""The market data a backtest runs on, and the view of it a strategy is allowed to see.

This module owns three things:

- ``OhlcvPanel``: open, high, low, close, volume as float64 arrays shaped ``(time, symbols)``. A cell is a
  bar only when all five values are finite, the prices > 0 and the volume >= 0; every other cell is stored
  as NaN in all five arrays, so ``np.isfinite(panel.close)`` says where bars are. The arrays are read-only
  copies: nobody can rewrite history after the fact.
- ``MarketView``: what a strategy sees when it decides at bar ``t`` -- slices of the panel and of its own
  features ending at row ``t``. It never holds the full arrays, so a decision cannot read the future.
- ``causal_by_runs``: computes indicator panels over each unbroken run of bars of each symbol, for
  indicators that reject NaN. Row ``t`` of a run depends only on rows of the same run up to ``t``, so a
  causal indicator stays causal, and a gap restarts its warm-up.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True, eq=False)
class OhlcvPanel:
    """Daily (or any fixed-interval) bars of several symbols, ``(time, symbols)``, NaN where there is no bar.

    Prices in each symbol's quote currency, volume in units traded. Raises ``ValueError`` unless the five
    arrays are 2-D, share one shape, and have one column per symbol.
    """

    symbols: tuple[str, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    has_bar: BoolArray = field(init=False)

    def __post_init__(self) -> None:
        arrays = [np.array(getattr(self, name), dtype=np.float64) for name in _FIELDS]
        shape = arrays[3].shape
        if len(shape) != 2 or any(a.shape != shape for a in arrays):
            shapes = ", ".join(f"{name} {a.shape}" for name, a in zip(_FIELDS, arrays, strict=True))
            raise ValueError(f"open, high, low, close, volume must be 2-D (time, symbols) of one shape; got {shapes}")
        if len(self.symbols) != shape[1] or len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"need {shape[1]} unique symbols, one per column; got {self.symbols}")
        with np.errstate(invalid="ignore"):
            has_bar = np.logical_and.reduce([np.isfinite(a) for a in arrays])
            has_bar &= np.logical_and.reduce([a > 0 for a in arrays[:4]]) & (arrays[4] >= 0)
        for name, a in zip(_FIELDS, arrays, strict=True):
            a[~has_bar] = np.nan
            a.flags.writeable = False
            object.__setattr__(self, name, a)
        has_bar.flags.writeable = False
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "has_bar", has_bar)

    @property
    def bars(self) -> int:
        """Number of rows (time steps)."""
        return int(self.close.shape[0])

    def head(self, stop: int) -> OhlcvPanel:
        """The first ``stop`` rows, as a new panel."""
        rows = slice(0, stop)
        return OhlcvPanel(
            self.symbols, self.open[rows], self.high[rows], self.low[rows], self.close[rows], self.volume[rows]
        )


@dataclass(frozen=True, slots=True)
class MarketView:
    """Everything a strategy may read when it decides at bar ``bar``: rows ``0 .. bar`` and nothing later.

    The arrays are read-only slices; row ``-1`` is the current bar. ``features`` holds the strategy's own
    indicator panels, sliced the same way.
    """

    bar: int
    symbols: tuple[str, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    features: Mapping[str, FloatArray]


def market_view(panel: OhlcvPanel, features: Mapping[str, FloatArray], bar: int) -> MarketView:
    """The view of ``panel`` and ``features`` at ``bar``: every array cut to rows ``0 .. bar``."""
    rows = slice(0, bar + 1)
    return MarketView(
        bar=bar,
        symbols=panel.symbols,
        open=panel.open[rows],
        high=panel.high[rows],
        low=panel.low[rows],
        close=panel.close[rows],
        volume=panel.volume[rows],
        features={name: values[rows] for name, values in features.items()},
    )


@dataclass(frozen=True, slots=True)
class Block:
    """A NaN-free ``(rows, columns)`` piece of a panel: one unbroken run of bars shared by some symbols."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


def causal_by_runs(
    panel: OhlcvPanel, names: Sequence[str], compute: Callable[[Block], Mapping[str, FloatArray]]
) -> dict[str, FloatArray]:
    """Feature panels ``names`` from ``compute``, run over each unbroken run of bars of each symbol.

    ``compute`` receives NaN-free blocks and must return one ``(rows, columns)`` array per name, row ``t``
    computed from rows ``<= t`` of the block. Cells without a bar are NaN in every output. Symbols sharing
    the same runs are computed together, so a gap-free panel is a single vectorised call.
    """
    out = {name: np.full(panel.close.shape, np.nan) for name in names}
    for (start, stop), columns in _runs(panel.has_bar).items():
        cells = (slice(start, stop), columns)
        block = Block(*(getattr(panel, name)[cells] for name in _FIELDS))
        computed = compute(block)
        for name in names:
            out[name][cells] = computed[name]
    for array in out.values():
        array.flags.writeable = False
    return out


def _runs(has_bar: BoolArray) -> dict[tuple[int, int], list[int]]:
    """Maximal runs of rows with a bar, per column, grouped: (start, stop) -> columns having that run."""
    padded = np.zeros((has_bar.shape[0] + 2, has_bar.shape[1]), dtype=np.int8)
    padded[1:-1] = has_bar
    edges = np.diff(padded, axis=0)
    # Transposed, nonzero walks column by column in time order, so the k-th start pairs with the k-th stop.
    start_columns, start_rows = np.nonzero(edges.T == 1)
    _, stop_rows = np.nonzero(edges.T == -1)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for column, start, stop in zip(start_columns.tolist(), start_rows.tolist(), stop_rows.tolist(), strict=True):
        groups[(start, stop)].append(column)
    return groups
