"""The two reference strategies of the source documents, as rules the backtester can run.

This module owns the exact entry and exit rules below. Both are long only, compute their signals once per
panel with ``quant.indicators`` over each unbroken run of bars (``causal_by_runs``), so the signal at bar
``t`` uses bars ``<= t`` only, and publish two features: ``entry`` and ``exit``, each 1.0 (fires), 0.0 (does
not) or NaN (no bar, or indicators still warming up). ``decide`` reads only the current row of those
features and the book: it proposes a market SELL for every held symbol whose ``exit`` fires, then a BUY for
every symbol whose ``entry`` fires and that is not held, in column order. Proposals ask for ``size_pct`` of
equity and leave stop and target to the posture; the risk guard clips and brackets them like any
commander's proposal (so the posture's stop-loss and take-profit are the brackets).

Growth (trend following; golden cross + RSI oversold recovery + volume surge confirmation). Entry at ``t``
when all of:

1. uptrend: SMA(``fast`` = 20) > SMA(``slow`` = 50) at ``t``;
2. a fresh setup within the last ``setup_window`` = 10 bars (``t`` included): a golden cross (SMA 20
   crossed above SMA 50: ``<=`` on the bar before, ``>`` on the bar) or an oversold recovery (RSI(14)
   crossed back up through ``rsi_oversold`` = 30: ``<`` on the bar before, ``>=`` on the bar);
3. volume confirmation: ``volume_ratio(20)`` (volume over the mean of the previous 20 bars) >=
   ``volume_surge_ratio`` = 1.5, on an up bar (close above the previous close).

Exit when SMA 20 < SMA 50 (the trend is over), or by the brackets. The entry is a market order (the guard
turns it into a limit at the close when the posture's limit-order share requires it).

Value / mean reversion. Entry at ``t`` when the close is below the lower Bollinger band (SMA 20 minus 2
population deviations) and RSI(14) < ``rsi_oversold`` = 30, as a buy limit at ``t``'s close. Exit when the
close is back at or above the middle band (SMA 20), or by the brackets.

Pure: no I/O, no clock; depends only on ``quant`` modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant import indicators
from quant.backtest.panel import Block, MarketView, OhlcvPanel, causal_by_runs
from quant.backtest.records import BookState
from quant.risk_guard import Action, ProposedOrder

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

FEATURES = ("entry", "exit")


@dataclass(frozen=True, slots=True)
class GrowthStrategy:
    """Golden cross / oversold recovery in an uptrend, confirmed by a volume surge. Periods in bars."""

    name: str = "growth"
    fast: int = 20
    slow: int = 50
    rsi_period: int = 14
    rsi_oversold: float = 30.0  # RSI points
    setup_window: int = 10
    volume_period: int = 20
    volume_surge_ratio: float = 1.5  # multiple of the mean volume of the previous volume_period bars
    size_pct: float = 10.0  # percent of equity asked for; the guard clips it to the posture

    def __post_init__(self) -> None:
        _check_periods(self, "fast", "slow", "rsi_period", "setup_window", "volume_period")
        _check_positive(self, "rsi_oversold", "volume_surge_ratio", "size_pct")

    def features(self, panel: OhlcvPanel) -> dict[str, FloatArray]:
        return causal_by_runs(panel, FEATURES, self._signals)

    def decide(self, view: MarketView, book: BookState) -> list[ProposedOrder]:
        return _proposals(view, book, self.size_pct, entry_type="market")

    def _signals(self, block: Block) -> Mapping[str, FloatArray]:
        close = block.close
        with np.errstate(invalid="ignore"):
            fast = indicators.sma(close, self.fast)
            slow = indicators.sma(close, self.slow)
            rsi = indicators.rsi(close, self.rsi_period)
            ratio = indicators.volume_ratio(block.volume, self.volume_period)
            uptrend = fast > slow
            golden_cross = (_previous(fast) <= _previous(slow)) & uptrend
            recovery = (_previous(rsi) < self.rsi_oversold) & (rsi >= self.rsi_oversold)
            setup = _within(golden_cross | recovery, self.setup_window)
            confirmed = (ratio >= self.volume_surge_ratio) & (close > _previous(close))
            entry = uptrend & setup & confirmed
            defined = np.isfinite(slow) & np.isfinite(rsi) & np.isfinite(ratio)
            return {"entry": _flag(entry, defined), "exit": _flag(fast < slow, np.isfinite(slow))}


@dataclass(frozen=True, slots=True)
class ValueStrategy:
    """Mean reversion: buy a close below the lower Bollinger band with RSI oversold, exit at the middle band."""

    name: str = "value"
    band_period: int = 20
    band_width: float = 2.0  # population standard deviations
    rsi_period: int = 14
    rsi_oversold: float = 30.0  # RSI points
    size_pct: float = 10.0  # percent of equity asked for; the guard clips it to the posture

    def __post_init__(self) -> None:
        _check_periods(self, "band_period", "rsi_period")
        _check_positive(self, "band_width", "rsi_oversold", "size_pct")

    def features(self, panel: OhlcvPanel) -> dict[str, FloatArray]:
        return causal_by_runs(panel, FEATURES, self._signals)

    def decide(self, view: MarketView, book: BookState) -> list[ProposedOrder]:
        return _proposals(view, book, self.size_pct, entry_type="limit")

    def _signals(self, block: Block) -> Mapping[str, FloatArray]:
        close = block.close
        with np.errstate(invalid="ignore"):
            bands = indicators.bollinger(close, self.band_period, self.band_width)
            rsi = indicators.rsi(close, self.rsi_period)
            entry = (close < bands.lower) & (rsi < self.rsi_oversold)
            defined = np.isfinite(bands.lower) & np.isfinite(rsi)
            return {"entry": _flag(entry, defined), "exit": _flag(close >= bands.middle, np.isfinite(bands.middle))}


def _proposals(view: MarketView, book: BookState, size_pct: float, *, entry_type: str) -> list[ProposedOrder]:
    """Market sells of held symbols whose exit fires, then buys of unheld symbols whose entry fires."""
    entry, exit_ = view.features["entry"][-1], view.features["exit"][-1]
    close = view.close[-1]
    column = {symbol: j for j, symbol in enumerate(view.symbols)}
    proposals = [
        ProposedOrder(symbol, Action.SELL, 0.0, "market", None, None, None)
        for symbol in book.holdings
        if exit_[column[symbol]] == 1.0
    ]
    for j in np.flatnonzero(entry == 1.0).tolist():
        symbol = view.symbols[j]
        if symbol in book.holdings:
            continue
        limit = float(close[j]) if entry_type == "limit" else None
        proposals.append(ProposedOrder(symbol, Action.BUY, size_pct, entry_type, limit, None, None))
    return proposals


def _check_periods(params: object, *names: str) -> None:
    for name in names:
        value = getattr(params, name)
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a whole number of bars >= 1, got {value!r}")


def _check_positive(params: object, *names: str) -> None:
    for name in names:
        value = getattr(params, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value}")


def _previous(a: FloatArray) -> FloatArray:
    """``a`` one row later: row t holds row t - 1; row 0 is NaN."""
    out = np.full(a.shape, np.nan)
    out[1:] = a[:-1]
    return out


def _within(fired: BoolArray, window: int) -> BoolArray:
    """True at row t when ``fired`` is true at any row ``t - window + 1 .. t``."""
    counts = np.cumsum(fired, axis=0, dtype=np.int64)
    recent = counts.copy()
    recent[window:] -= counts[:-window]
    return recent > 0


def _flag(fired: BoolArray, defined: BoolArray) -> FloatArray:
    """1.0 / 0.0 where ``defined``, NaN elsewhere."""
    return np.where(defined, fired.astype(np.float64), np.nan)


__all__ = ["FEATURES", "GrowthStrategy", "ValueStrategy"]
