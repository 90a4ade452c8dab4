"""Shared helpers of the backtest specifications: tiny hand-made panels, a scripted strategy, real data."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from quant.backtest import BacktestConfig, BookState, MarketView, OhlcvPanel
from quant.posture import Posture, PostureParams
from quant.risk_guard import Action, ProposedOrder, RiskLimits
from tools.feeds.bundled import load_bundled_daily

FloatArray = npt.NDArray[np.float64]

# Wide enough that a test sees the fill rules, not the posture: 50 % entries, 5 % stop, 10 % target,
# five positions, market orders allowed.
PERMISSIVE = PostureParams(
    entry_size_pct=50.0, stop_loss_pct=5.0, take_profit_pct=10.0, max_open_positions=5, limit_order_share_pct=0.0
)


def config(**overrides: object) -> BacktestConfig:
    """10 bps fees, 20 bps slippage, the permissive posture in every regime, no concentration cap."""
    settings: dict[str, object] = {
        "initial_cash": 100_000.0,
        "fee_bps": 10.0,
        "slippage_bps": 20.0,
        "postures": {posture: PERMISSIVE for posture in Posture},
        "limits": RiskLimits(max_concentration_pct=100.0),
    }
    settings.update(overrides)
    return BacktestConfig(**settings)  # type: ignore[arg-type]


def panel(*bars: Sequence[tuple[float, float, float, float] | None], symbols: Sequence[str] = ("AAA",)) -> OhlcvPanel:
    """A panel from rows of per-symbol (open, high, low, close) bars; None is a missing bar. Volume 1e6."""
    rows = np.array([[(np.nan,) * 4 if cell is None else cell for cell in row] for row in bars], dtype=np.float64)
    volume = np.where(np.isnan(rows[..., 3]), np.nan, 1e6)
    return OhlcvPanel(tuple(symbols), rows[..., 0], rows[..., 1], rows[..., 2], rows[..., 3], volume)


def bar(open_: float, high: float, low: float, close: float) -> tuple[float, float, float, float]:
    return (open_, high, low, close)


def buy(
    symbol: str = "AAA",
    size_pct: float = 50.0,
    order_type: str = "market",
    limit: float | None = None,
    stop_pct: float | None = None,
    target_pct: float | None = None,
) -> ProposedOrder:
    return ProposedOrder(symbol, Action.BUY, size_pct, order_type, limit, stop_pct, target_pct)


def sell(symbol: str = "AAA", order_type: str = "market", limit: float | None = None) -> ProposedOrder:
    return ProposedOrder(symbol, Action.SELL, 0.0, order_type, limit, None, None)


@dataclass(frozen=True)
class Scripted:
    """Proposes exactly the orders listed for each bar; records the length of every view it was shown."""

    orders: Mapping[int, Sequence[ProposedOrder]]
    name: str = "scripted"
    seen: list[tuple[int, int, bool]] = field(default_factory=list)  # (bar, rows shown, arrays writeable)

    def features(self, panel: OhlcvPanel) -> dict[str, FloatArray]:
        return {}

    def decide(self, view: MarketView, book: BookState) -> list[ProposedOrder]:
        self.seen.append((view.bar, len(view.close), bool(view.close.flags.writeable)))
        return list(self.orders.get(view.bar, ()))


@dataclass(frozen=True)
class Bundled:
    panel: OhlcvPanel
    dates: tuple[date, ...]
    vix: FloatArray


@functools.cache
def bundled(start: date = date(2013, 1, 1), end: date = date(2017, 12, 31)) -> Bundled:
    """The project's bundled daily bars of its 12 US symbols (2013-01-02..2017-09-01 in this range), with VIX."""
    data = load_bundled_daily(start=start, end=end)
    prices = OhlcvPanel(data.symbols, data.open, data.high, data.low, data.close, data.volume)
    return Bundled(prices, data.dates, data.vix)
