"""The reference bots' backtest (`aegis backtest --bots`): the live machinery on the bundled data, then curves.

There is no second, multi-strategy engine here. The run is the main job itself (`run_replay`): the
reference bots registered on the first decided day, every signal deliberated through the live pipeline
with the offline `rules` roles, the live risk guard with per-bot sleeves, t+1 fills at the paper broker,
the weekly rebalancing and the circuit breaker, on the accelerated clock at full speed. This module only
collects the account's equity each day (`on_day`), reads the run's records afterwards, and turns both
into dated curves with the single-strategy backtest's metrics (`curve_metrics`) and chart.

Decisions that must not be silently changed:
- The records are a fresh SQLite folder: a temporary one, deleted afterwards, or `data_dir`, kept, with the
  run's log (`aegis.log`: alerts and escalations, kept off the terminal). The settings' PostgreSQL, Redis
  and alert channels are not used: a backtest must never mix its records with a live deployment's, nor
  page anyone. A folder that holds records already is refused (a resumed run's days gone over again carry
  the book's last equity, not their own).
- The curves start at the close of the last warm-up day (the starting cash, nothing held) and end with the
  window. Buy-and-hold is the equal-weight basket `aegis run` reports (`DayProgress.benchmark_equity`),
  bought without costs at the next open, the first decided day's; the bots' first orders are decided that
  day and fill the day after.
- A bot's curve is its compounded daily returns on its sleeve (`tools.ops.allocation.bot_returns`, so a
  re-allocation is not a return) scaled to its starting sleeve. Its marks are taken at the start of each
  trading day, so each mark is dated by the close it values (the trading day before): the curves then share
  their first day with the account's, and end one day before it (the last day has no next mark).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from aegis.llm_mode import LLMMode, with_llm_mode
from aegis.runtime.backtest_job import (
    BacktestInputError,
    BacktestWindowError,
    EquityCurve,
    curve_metrics,
    write_curves_chart,
)
from aegis.runtime.bot_report import BotRow
from aegis.runtime.logs import logging_to_file
from aegis.runtime.reference_bots import REFERENCE_BOTS, reference_bots
from aegis.runtime.replay_job import WARMUP_DAYS, DayProgress, ReplayOptions, run_replay
from aegis.runtime.summary import RunSummary
from aegis.services import RECORDS_FILE
from aegis.settings import Settings
from quant.metrics import PerformanceMetrics
from state.bots import BotDay
from state.clock import WallClock
from state.decisions import Outcome
from state.events import EventType
from state.store.factory import open_store
from tools.feeds.bundled import DailyPanel, load_bundled_daily
from tools.notify.config import NotifyConfig
from tools.ops.allocation import RebalanceConfig, bot_returns

MIN_DAYS = WARMUP_DAYS + 2  # the warm-up, one day to decide, one for the orders to fill
LOG_FILE = "aegis.log"  # in the records folder, as `aegis run`'s: alerts and escalations, not the terminal


class RecordsFolderError(BacktestInputError):
    """The records folder asked for holds records already."""


class NoReferenceBotError(BacktestInputError):
    """None of the symbols asked for is in a reference bot's universe."""


@dataclass(frozen=True, slots=True)
class BotsBacktestOptions:
    """What to run. ``symbols`` None: every bundled symbol; ``start`` / ``end`` None: the bundle's edge (both
    inclusive); ``data_dir`` None: a temporary records folder, deleted afterwards; ``chart`` None: no chart."""

    symbols: tuple[str, ...] | None = None
    start: date | None = None
    end: date | None = None
    data_dir: Path | None = None
    chart: Path | None = None
    concurrency: int = 4


@dataclass(frozen=True, slots=True, eq=False)
class BotResult:
    """One bot: its scorecard row as the records hold it (final allocation, state, P&L), its curve in
    account currency from its starting sleeve, and the curve's metrics."""

    row: BotRow
    starting_allocation: float
    starting_sleeve: float
    curve: EquityCurve
    metrics: PerformanceMetrics


@dataclass(frozen=True, slots=True, eq=False)
class BotsBacktestReport:
    options: BotsBacktestOptions
    symbols: tuple[str, ...]
    dates: tuple[date, ...]  # the window's trading days, warm-up included
    summary: RunSummary  # the run's own summary, read from its records
    account: EquityCurve
    account_metrics: PerformanceMetrics
    benchmark: EquityCurve
    benchmark_metrics: PerformanceMetrics
    bots: tuple[BotResult, ...]
    rebalance: RebalanceConfig  # the run's
    records: Path | None  # the kept records folder; None: it was temporary
    wall_seconds: float
    chart: Path | None = field(default=None)

    def operations(self, event_type: EventType, outcome: Outcome) -> int:
        """How many of the run's operations flows of ``event_type`` ended with ``outcome``."""
        return self.summary.operations.get((event_type.value, outcome.value), 0)

    @property
    def rebalances_applied(self) -> int:
        return self.operations(EventType.REBALANCING_DUE, Outcome.APPLIED)

    @property
    def rebalances_skipped(self) -> int:
        return self.operations(EventType.REBALANCING_DUE, Outcome.SKIPPED)

    @property
    def breaker_trips(self) -> int:
        return self.operations(EventType.CIRCUIT_BREAKER, Outcome.APPLIED)


def run_bots_backtest(
    settings: Settings, options: BotsBacktestOptions, on_day: Callable[[DayProgress], None] | None = None
) -> BotsBacktestReport:
    """Run the reference bots over the window as `aegis run` does, and report their curves; `on_day` sees
    every trading day's progress. Raises `BacktestInputError` for a window, symbols or folder it cannot use."""
    started = time.perf_counter()
    panel = _window(options)
    if options.data_dir is not None and (options.data_dir / RECORDS_FILE).exists():
        raise RecordsFolderError(
            f"{options.data_dir} holds records already; a backtest starts on fresh records: choose another folder"
        )
    with _records_folder(options.data_dir) as folder, logging_to_file(folder / LOG_FILE):
        report = asyncio.run(_run(_backtest_settings(settings, folder), options, panel, on_day))
    report = replace(report, records=options.data_dir, wall_seconds=time.perf_counter() - started)
    if options.chart is None:
        return report
    write_bots_chart(report, options.chart)
    return replace(report, chart=options.chart)


def write_bots_chart(report: BotsBacktestReport, path: Path) -> None:
    """The account against buy-and-hold and the bots' sleeves, every curve normalised to start at 1 (the
    account and a sleeve differ in scale several times over), drawdowns below."""
    curves = [report.account, report.benchmark, *(bot.curve for bot in report.bots)]
    normalised = [EquityCurve(c.label, c.dates, c.values / c.values[0]) for c in curves]
    title = (
        f"reference bots on {len(report.symbols)} symbols, {report.account.dates[0]}..{report.account.dates[-1]}: "
        "every curve normalised to start at 1"
    )
    write_curves_chart(normalised, path, title=title, ylabel="growth of 1", value_format="{x:.2f}")


# ---- the run -------------------------------------------------------------------------------------------


async def _run(
    settings: Settings,
    options: BotsBacktestOptions,
    panel: DailyPanel,
    on_day: Callable[[DayProgress], None] | None,
) -> BotsBacktestReport:
    days: list[DayProgress] = []

    def collect(progress: DayProgress) -> None:
        days.append(progress)
        if on_day is not None:
            on_day(progress)

    replay = ReplayOptions(
        symbols=panel.symbols,
        start=panel.dates[0],
        end=panel.dates[-1],
        days_per_second=0,
        concurrency=options.concurrency,
        bots=True,
    )
    summary = await run_replay(settings, replay, on_day=collect)
    store = await open_store(None, settings.data_dir / RECORDS_FILE, WallClock())
    try:
        marks = await store.bot_days()
    finally:
        await store.close()

    held = days[WARMUP_DAYS - 1 :]  # from the last warm-up day's close: the starting cash, nothing held
    dates = tuple(d.day for d in held)
    account = EquityCurve("account", dates, np.array([d.equity for d in held]))
    benchmark = EquityCurve("buy-and-hold", dates, np.array([d.benchmark_equity for d in held]))
    return BotsBacktestReport(
        options=options,
        symbols=panel.symbols,
        dates=panel.dates,
        summary=summary,
        account=account,
        account_metrics=curve_metrics(account, positions=[len(d.positions) for d in held]),
        benchmark=benchmark,
        benchmark_metrics=curve_metrics(benchmark, positions=[0, *([1] * (len(held) - 1))]),
        bots=_bot_results(summary.bots, marks, panel.dates),
        rebalance=settings.rebalance,
        records=None,
        wall_seconds=summary.wall_seconds,
    )


def _bot_results(rows: tuple[BotRow, ...], marks: list[BotDay], dates: tuple[date, ...]) -> tuple[BotResult, ...]:
    """Each bot's curve: its sleeve's growth (from the days every bot has a return, as `bot_rows` measures
    them) scaled to its starting sleeve, each mark dated by the close it values."""
    history = bot_returns(marks, [row.bot_id for row in rows])
    previous_close = {day: dates[i - 1] for i, day in enumerate(dates) if i > 0}
    first: dict[str, BotDay] = {}
    for mark in sorted(marks, key=lambda m: m.day):
        first.setdefault(mark.bot_id, mark)
    if history.days:
        growth_days, growth = history.growth_days(), history.growth()
    else:  # one mark each: no return yet
        growth_days, growth = (min(m.day for m in marks),), np.ones((1, len(rows)))
    curve_dates = tuple(previous_close[day] for day in growth_days)
    results = []
    for i, row in enumerate(rows):
        start = first[row.bot_id]
        curve = EquityCurve(row.bot_id, curve_dates, growth[:, i] * start.sleeve)
        results.append(BotResult(row, start.allocation, start.sleeve, curve, curve_metrics(curve)))
    return tuple(results)


# ---- helpers -------------------------------------------------------------------------------------------


def _window(options: BotsBacktestOptions) -> DailyPanel:
    """The window's bars, checked: in order, long enough, and with a reference bot to trade them."""
    if options.start is not None and options.end is not None and options.start > options.end:
        raise BacktestWindowError(f"start {options.start} is after end {options.end}")
    panel = load_bundled_daily(options.symbols, options.start, options.end)
    bundle = load_bundled_daily().dates
    covers = f"the bundle covers {bundle[0]}..{bundle[-1]}"
    if not panel.dates:
        first, last = options.start or bundle[0], options.end or bundle[-1]
        raise BacktestWindowError(f"no trading days between {first} and {last}; {covers}")
    if len(panel.dates) < MIN_DAYS:
        raise BacktestWindowError(
            f"{len(panel.dates)} trading days from {panel.dates[0]} to {panel.dates[-1]} are too few for the bots: "
            f"they need at least {MIN_DAYS} ({WARMUP_DAYS} to warm up the indicators, one to decide, one to fill); "
            f"{covers}"
        )
    if not reference_bots(panel.symbols):
        universes = "; ".join(f"{bot.bot_id}: {', '.join(bot.universe)}" for bot in REFERENCE_BOTS)
        raise NoReferenceBotError(f"no reference bot trades {', '.join(panel.symbols)} ({universes})")
    return panel


def _backtest_settings(settings: Settings, folder: Path) -> Settings:
    """The live settings on the backtest's own SQLite records, with the offline roles and no alert channel."""
    isolated = settings.model_copy(
        update={"data_dir": folder, "postgres_url": None, "redis_url": None, "notify": NotifyConfig()}
    )
    return with_llm_mode(isolated, LLMMode.RULES)


@contextmanager
def _records_folder(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="aegis-backtest-bots-") as folder:
        yield Path(folder)
