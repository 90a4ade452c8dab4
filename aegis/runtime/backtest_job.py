"""The backtest job (`aegis backtest`): a reference strategy on the bundled real data, next to buy-and-hold.

This module owns four things, each usable on its own (the bots' backtest, `aegis.runtime.bots_backtest`,
reuses the last two):

- ``run_backtest_job``: loads the bundled daily bars, runs ``quant.backtest.run_backtest`` configured like the
  live guard (``backtest_config``) with each bar's posture from that bar's VIX, and gathers the report;
- ``buy_and_hold``: the benchmark, defined as: at the open of the window's second bar (the first bar at which
  any order can fill, since a decision at ``t`` fills at ``t + 1``), the starting cash is split equally
  among the symbols and each part buys its symbol at that open with the configured slippage and fee, in
  fractional units; nothing is traded afterwards; equity is the units at each close (the last known close
  where a symbol has no bar), and the starting cash before the purchase;
- ``curve_metrics``: ``quant.metrics.performance_metrics`` of a dated equity curve, with calendar-day CAGR
  exactly as the engine computes its own metrics (the strategy's metrics are the engine's, not recomputed);
- ``write_equity_chart`` / ``write_curves_chart``: a PNG of equity curves with their drawdowns below.

Decisions that must not be silently changed:
- The backtest is configured from the live ``Settings`` and nothing else: starting cash, the paper broker's
  fees and slippage, the deliberation's postures and risk limits. The engine classifies the VIX with the
  default thresholds only, so settings with other ``vix_thresholds`` are refused rather than ignored.
- Bad input (unknown strategy or symbol, a window empty, reversed or too short for the strategy's warm-up)
  raises a ``BacktestInputError`` (a ``ValueError``) naming what is available; nothing is defaulted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt

from aegis.runtime.market_data import covers, screen_volume
from aegis.settings import Settings
from quant import metrics
from quant.backtest import BacktestConfig, BacktestResult, GrowthStrategy, OhlcvPanel, Strategy, ValueStrategy
from quant.backtest import run_backtest as run_engine
from quant.metrics import PerformanceMetrics
from quant.posture import VixThresholds
from tools.feeds.bundled import DailyPanel, UnknownSymbolError
from tools.feeds.datasets import Dataset, bundled_dataset

FloatArray = npt.NDArray[np.float64]

STRATEGIES: Mapping[str, Callable[[], Strategy]] = {"growth": GrowthStrategy, "value": ValueStrategy}
BENCHMARK_ENTRY_BAR = 1  # the first bar at which an order decided on the window's first bar fills
_BPS = 10_000.0


class BacktestInputError(ValueError):
    """A backtest asked for something the bundled data or the strategies cannot give."""


class UnknownStrategyError(BacktestInputError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


class ClosesOnlyStrategyError(BacktestInputError):
    """A strategy that reads volume, asked to run on closes-only data."""


class BacktestWindowError(BacktestInputError):
    """The window is reversed, holds no trading day, or is too short for the strategy's warm-up."""


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """What to backtest. ``symbols`` None: every bundled symbol; ``start`` / ``end`` None: the bundle's edge
    (both inclusive); ``chart`` None: no chart. The starting cash comes from the settings."""

    strategy: str
    symbols: tuple[str, ...] | None = None
    start: date | None = None
    end: date | None = None
    chart: Path | None = None
    dataset: Dataset | None = None  # imported data (`aegis backtest --data`); None: the bundled data


@dataclass(frozen=True, slots=True, eq=False)
class EquityCurve:
    """Account values in account currency at each dated bar's close."""

    label: str
    dates: tuple[date, ...]
    values: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class BuyAndHold:
    """The benchmark's book: ``equity`` ``(time,)`` and ``positions`` ``(time, symbols)`` units at each close."""

    equity: FloatArray
    positions: FloatArray


@dataclass(frozen=True, slots=True)
class Activity:
    """What the run's orders became. Reasons are grouped for display (numbers as ``#``, symbols as
    ``<symbol>``); the exact ones stay in ``BacktestResult.decisions`` and ``unfilled``."""

    orders: int  # proposals the guard turned into orders
    fills: Counter[str]  # by fill reason: entry, exit, stop_loss, take_profit
    rejections: Counter[str]  # proposals without an order, "guard: ..." or "engine: ..."
    expired: Counter[str]  # orders that did not fill on the bar they were placed for


@dataclass(frozen=True, slots=True, eq=False)
class BacktestReport:
    """One backtest: the engine's result and metrics, the benchmark's, and where the chart went."""

    options: BacktestOptions
    config: BacktestConfig
    dates: tuple[date, ...]
    result: BacktestResult
    benchmark: BuyAndHold
    benchmark_metrics: PerformanceMetrics
    activity: Activity
    chart: Path | None = field(default=None)

    @property
    def metrics(self) -> PerformanceMetrics:
        return self.result.metrics

    @property
    def strategy_curve(self) -> EquityCurve:
        return EquityCurve(self.result.strategy, self.dates, self.result.equity)

    @property
    def benchmark_curve(self) -> EquityCurve:
        return EquityCurve("buy-and-hold", self.dates, self.benchmark.equity)


def backtest_config(settings: Settings) -> BacktestConfig:
    """The engine configured like the live account and guard. Raises ``BacktestInputError`` when the
    settings classify the VIX with thresholds the engine cannot apply."""
    deliberation = settings.deliberation
    if deliberation.vix_thresholds != VixThresholds():
        raise BacktestInputError(
            f"the settings' vix_thresholds {deliberation.vix_thresholds} differ from the defaults "
            f"{VixThresholds()}, and the backtest engine classifies the VIX with the defaults only"
        )
    return BacktestConfig(
        initial_cash=settings.starting_cash,
        fee_bps=settings.costs.fee_bps,
        slippage_bps=settings.costs.slippage_bps,
        postures=dict(deliberation.postures),
        limits=deliberation.risk_limits,
    )


def strategy_named(name: str) -> Strategy:
    """The reference strategy called ``name`` (see ``STRATEGIES``), with its default parameters."""
    make = STRATEGIES.get(name)
    if make is None:
        raise UnknownStrategyError(name)
    return make()


def run_backtest_job(settings: Settings, options: BacktestOptions) -> BacktestReport:
    """Backtest ``options.strategy`` on the bundled bars, benchmark it, and write the chart if asked."""
    strategy = strategy_named(options.strategy)
    config = backtest_config(settings)
    dataset = options.dataset or bundled_dataset()
    if dataset.closes_only and strategy.name == "growth":
        raise ClosesOnlyStrategyError(
            f"growth confirms its entries with a volume surge, and dataset {dataset.name!r} is closes only "
            "(its volume is unknown); backtest it with --strategy value (closes only)"
        )
    data = _window(options, dataset)
    # Closes-only cells: volume 0 (unknown) so the engine takes them as bars; value reads no volume.
    panel = OhlcvPanel(data.symbols, data.open, data.high, data.low, data.close, screen_volume(data))
    _check_warm_up(strategy, panel, data, dataset)
    result = run_engine(panel, strategy, config, vix=data.vix, dates=data.dates)
    benchmark = buy_and_hold(panel, config.initial_cash, fee_bps=config.fee_bps, slippage_bps=config.slippage_bps)
    report = BacktestReport(
        options=options,
        config=config,
        dates=data.dates,
        result=result,
        benchmark=benchmark,
        benchmark_metrics=curve_metrics(
            EquityCurve("buy-and-hold", data.dates, benchmark.equity),
            positions=benchmark.positions,
            periods_per_year=config.periods_per_year,
        ),
        activity=activity(result),
    )
    if options.chart is None:
        return report
    write_equity_chart(report, options.chart)
    return replace(report, chart=options.chart)


def buy_and_hold(
    panel: OhlcvPanel,
    cash: float,
    *,
    fee_bps: float,
    slippage_bps: float,
    entry_bar: int = BENCHMARK_ENTRY_BAR,
) -> BuyAndHold:
    """Equal-weight buy-and-hold of every symbol of ``panel`` from the open of ``entry_bar`` (see the module
    docstring). Raises ``ValueError`` when the panel ends before ``entry_bar`` or a symbol has no bar there."""
    if not 0 <= entry_bar < panel.bars:
        raise ValueError(f"the benchmark buys at bar {entry_bar}, but the panel has {panel.bars} bars")
    missing = [s for s, has in zip(panel.symbols, panel.has_bar[entry_bar], strict=True) if not has]
    if missing:
        raise ValueError(f"no bar at the benchmark's entry bar {entry_bar} for {', '.join(missing)}")
    cost_per_unit = panel.open[entry_bar] * (1.0 + slippage_bps / _BPS) * (1.0 + fee_bps / _BPS)
    units = cash / len(panel.symbols) / cost_per_unit
    positions = np.zeros(panel.close.shape)
    positions[entry_bar:] = units
    marks = _last_known(panel.close)
    equity = np.full(panel.bars, cash)
    equity[entry_bar:] = (marks[entry_bar:] * units).sum(axis=1)
    return BuyAndHold(equity=equity, positions=positions)


def curve_metrics(
    curve: EquityCurve,
    *,
    trade_pnl: npt.ArrayLike = (),
    positions: npt.ArrayLike | None = None,
    periods_per_year: float = metrics.TRADING_DAYS_PER_YEAR,
) -> PerformanceMetrics:
    """``quant.metrics.performance_metrics`` of a dated curve, CAGR over calendar days like the engine's."""
    return metrics.performance_metrics(
        curve.values,
        years=metrics.calendar_years(curve.dates[0], curve.dates[-1]),
        trade_pnl=trade_pnl,
        positions=positions,
        periods_per_year=periods_per_year,
    )


def activity(result: BacktestResult) -> Activity:
    """Orders placed, fills by reason, rejections and expired orders by (grouped) reason."""
    symbols = re.compile(r"\b(?:" + "|".join(map(re.escape, result.symbols)) + r")\b")

    def grouped(reason: str) -> str:
        return re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", "#", symbols.sub("<symbol>", reason))

    return Activity(
        orders=sum(1 for d in result.decisions if d.order is not None),
        fills=Counter(f.reason for f in result.fills),
        rejections=Counter(f"{d.rejected_by}: {grouped(d.rejected_because or '')}" for d in result.rejections),
        expired=Counter(grouped(u.reason) for u in result.unfilled),
    )


def write_equity_chart(report: BacktestReport, path: Path) -> None:
    """The report's equity against buy-and-hold, drawdowns below, titled with strategy, symbols and window."""
    symbols = report.result.symbols
    shown = ", ".join(symbols[:6]) + (f" +{len(symbols) - 6} more" if len(symbols) > 6 else "")
    title = f"{report.result.strategy} on {shown}, {report.dates[0]}..{report.dates[-1]}"
    write_curves_chart((report.strategy_curve, report.benchmark_curve), path, title=title)


def write_curves_chart(
    curves: Sequence[EquityCurve],
    path: Path,
    *,
    title: str,
    ylabel: str = "equity",
    value_format: str = "{x:,.0f}",
) -> None:
    """A PNG at ``path``: the curves' values on top (axis ``ylabel``, ticks ``value_format``), their drawdowns
    (percent below the peak) underneath."""
    # Imported here: matplotlib is slow to import, and every other `aegis` command would pay for it.
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    figure = Figure(figsize=(10, 6))
    equity_axes, drawdown_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    for curve in curves:
        equity_axes.plot(curve.dates, curve.values, label=curve.label, linewidth=1.2)
        drawdown_axes.plot(curve.dates, metrics.drawdown(curve.values) * 100.0, label=curve.label, linewidth=1.0)
    equity_axes.set_title(title)
    equity_axes.set_ylabel(ylabel)
    equity_axes.yaxis.set_major_formatter(StrMethodFormatter(value_format))
    equity_axes.legend(loc="upper left")
    equity_axes.grid(alpha=0.3)
    drawdown_axes.set_ylabel("drawdown (%)")
    drawdown_axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100, metadata={"Software": None})


# ---- helpers -------------------------------------------------------------------------------------------


def _window(options: BacktestOptions, dataset: Dataset) -> DailyPanel:
    if options.start is not None and options.end is not None and options.start > options.end:
        raise BacktestWindowError(f"start {options.start} is after end {options.end}")
    if options.symbols is not None:
        missing = [s for s in options.symbols if s not in dataset.panel.symbols]
        if missing:
            raise UnknownSymbolError(missing[0], dataset.panel.symbols)
    whole = dataset.panel.symbols_subset(list(options.symbols)) if options.symbols else dataset.panel
    data = whole.window(options.start, options.end)
    if not data.dates:
        bundle = whole.dates
        raise BacktestWindowError(
            f"no trading days between {options.start or bundle[0]} and {options.end or bundle[-1]}; {covers(dataset)}"
        )
    return data


def _check_warm_up(strategy: Strategy, panel: OhlcvPanel, data: DailyPanel, dataset: Dataset) -> None:
    """The strategy's entry signal must be defined on some bar before the last, so an order can fill."""
    first = _first_signal_bar(strategy, panel)
    if first is not None and first < panel.bars - 1:
        return
    bundle = dataset.panel.symbols_subset(list(data.symbols))
    full = OhlcvPanel(bundle.symbols, bundle.open, bundle.high, bundle.low, bundle.close, screen_volume(bundle))
    warm_up = _first_signal_bar(strategy, full)
    whole = "the whole bundle" if dataset.source.startswith("tape:") else "all of the data"
    needs = (
        f"more than {whole}"
        if warm_up is None
        else f"at least {warm_up + 2} ({warm_up} to warm up its indicators, one to decide, one to fill)"
    )
    raise BacktestWindowError(
        f"{panel.bars} trading days from {data.dates[0]} to {data.dates[-1]} are too few for {strategy.name}: "
        f"it needs {needs}; {covers(dataset)}"
    )


def _first_signal_bar(strategy: Strategy, panel: OhlcvPanel) -> int | None:
    defined = np.isfinite(strategy.features(panel)["entry"]).any(axis=1)
    return int(np.argmax(defined)) if defined.any() else None


def _last_known(close: FloatArray) -> FloatArray:
    """Each cell's close, or the last earlier close of its column where it has none (NaN before the first)."""
    rows = np.where(np.isfinite(close), np.arange(close.shape[0])[:, None], 0)
    np.maximum.accumulate(rows, axis=0, out=rows)
    return np.take_along_axis(close, rows, axis=0)
