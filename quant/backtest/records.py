"""What a backtest writes down: decisions with the guard's verdict, fills, closed trades, the book.

This module owns the record types of ``quant.backtest.engine``; they are plain frozen values so that two
runs can be compared field by field (the no-look-ahead tests do exactly that). Bars are row indices of the
panel; prices and money are in account currency; quantities in whole units.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.metrics import PerformanceMetrics
from quant.posture import Posture
from quant.risk_guard import GuardChange, GuardedOrder, ProposedOrder

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Holding:
    """One open long position. The bracket prices come from the guard; None means no such bracket."""

    symbol: str
    quantity: float
    entry_price: float
    entry_fee: float
    entry_bar: int  # bar of the entry fill
    decided_at: int  # bar of the decision that placed the entry
    stop_loss_price: float | None
    take_profit_price: float | None


@dataclass(frozen=True, slots=True)
class BookState:
    """The account as a strategy sees it when deciding: marked at the current bar's close."""

    cash: float
    equity: float
    holdings: Mapping[str, Holding]


@dataclass(frozen=True, slots=True)
class Decision:
    """One proposal of the strategy at ``bar`` and what became of it.

    ``order`` is the guarded order placed for the next bar, or None when the proposal was rejected;
    ``rejected_by`` is "guard" (``quant.risk_guard``) or "engine" (a rule of the simulation itself, such as
    one order per symbol per bar).
    """

    bar: int
    proposal: ProposedOrder
    posture: Posture
    order: GuardedOrder | None
    rejected_because: str | None
    rejected_by: str | None
    changes: tuple[GuardChange, ...]


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution at ``bar``. ``reason`` is "entry", "exit", "stop_loss" or "take_profit"."""

    bar: int
    symbol: str
    side: str  # "buy" | "sell"
    quantity: float
    price: float  # after slippage
    fee: float
    reason: str
    decided_at: int  # bar of the decision that placed the order (for a bracket: of its entry)


@dataclass(frozen=True, slots=True)
class Unfilled:
    """An approved order that did not execute at ``bar``, the bar it was placed for, and why."""

    bar: int
    symbol: str
    side: str
    reason: str


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip. ``pnl`` is net of both fees; ``return_fraction`` is pnl over the entry cost."""

    symbol: str
    entry_bar: int
    exit_bar: int
    quantity: float
    entry_price: float
    exit_price: float
    fees: float
    pnl: float
    return_fraction: float
    exit_reason: str


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """One run: the book at every bar's close, everything that happened, and the performance metrics.

    ``equity`` and ``cash`` are ``(time,)``, ``positions`` is ``(time, symbols)`` quantities, all taken at
    each bar's close after that bar's fills. Trades are closed round trips only; a position still open at
    the end is in the equity but not in ``trades``.
    """

    strategy: str
    symbols: tuple[str, ...]
    equity: FloatArray
    cash: FloatArray
    positions: FloatArray
    decisions: tuple[Decision, ...]
    fills: tuple[Fill, ...]
    unfilled: tuple[Unfilled, ...]
    trades: tuple[Trade, ...]
    metrics: PerformanceMetrics

    @property
    def rejections(self) -> tuple[Decision, ...]:
        """The decisions that produced no order, each with its reason."""
        return tuple(d for d in self.decisions if d.order is None)
