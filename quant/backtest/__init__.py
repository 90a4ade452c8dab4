"""Event-driven backtests of rule-based strategies through the live risk guard.

``panel`` (the data and the strategy's view of it), ``engine`` (the loop and fill rules), ``records`` (what a
run writes down), ``strategies`` (the reference growth and value rules), ``signal_quality`` (density and
forward hit rate of a signal). Pure: no I/O, no clock.
"""

from quant.backtest.engine import BacktestConfig, Strategy, run_backtest
from quant.backtest.panel import MarketView, OhlcvPanel
from quant.backtest.records import BacktestResult, BookState, Decision, Fill, Holding, Trade, Unfilled
from quant.backtest.signal_quality import HEALTHY_DENSITY, SignalQuality, signal_quality
from quant.backtest.strategies import GrowthStrategy, ValueStrategy

__all__ = [
    "HEALTHY_DENSITY",
    "BacktestConfig",
    "BacktestResult",
    "BookState",
    "Decision",
    "Fill",
    "GrowthStrategy",
    "Holding",
    "MarketView",
    "OhlcvPanel",
    "SignalQuality",
    "Strategy",
    "Trade",
    "Unfilled",
    "ValueStrategy",
    "run_backtest",
    "signal_quality",
]
