"""`aegis backtest`: a reference strategy, or the reference bots together, on the bundled real data vs buy-and-hold.

aegis backtest --strategy growth --symbols AAPL,MSFT --start 2013-01-01 --end 2016-12-31
aegis backtest --strategy value --json --no-chart
aegis backtest --bots --start 2013-01-02 --end 2013-12-31 --data-dir runs/bots-2013

`--strategy` prints the engine's metrics next to equal-weight buy-and-hold of the same symbols, what the orders
became (placed, filled by reason, rejected and expired by reason) and where the chart went. `--bots` runs the
reference bots through the live machinery (`aegis.runtime.bots_backtest`: the main job at full speed, allocation
and rebalancing as live) and prints the account, buy-and-hold and each bot's sleeve, the rebalances applied and
skipped and the circuit breaker's trips, with a line of progress every 100 trading days on stderr. `--json`
prints the same as one JSON object (non-finite numbers as null). The work is the runtime's; this module only
reads options and shows the report. A bad option is one line and exit 2 (`aegis.cli.errors`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from aegis.runtime.backtest_job import (
    BacktestOptions,
    BacktestReport,
    BacktestWindowError,
    ClosesOnlyStrategyError,
    UnknownStrategyError,
    run_backtest_job,
)
from aegis.runtime.bots_backtest import (
    BotsBacktestOptions,
    BotsBacktestReport,
    NoReferenceBotError,
    RecordsFolderError,
    run_bots_backtest,
)
from aegis.runtime.market_data import data_label, fields_note
from aegis.runtime.replay_job import WARMUP_DAYS, DayProgress
from aegis.settings import Settings
from quant.metrics import PerformanceMetrics
from tools.feeds.bundled import UnknownSymbolError
from tools.feeds.datasets import load_dataset

_DAY = ["%Y-%m-%d"]
_R = TypeVar("_R")
# Which option a job's input error is about, so the one line names it.
_OPTION_OF: tuple[tuple[type[ValueError], str], ...] = (
    (UnknownStrategyError, "'--strategy'"),
    (ClosesOnlyStrategyError, "'--strategy'"),
    (UnknownSymbolError, "'--symbols'"),
    (BacktestWindowError, "'--start' / '--end'"),
    (NoReferenceBotError, "'--symbols'"),
    (RecordsFolderError, "'--data-dir'"),
)
_MODE = "'--strategy' / '--bots'"
PROGRESS_EVERY = 100  # trading days between the progress lines of a --bots run
# (label, field of PerformanceMetrics or of its trades, format): the rows of the table.
_ROWS = (
    ("total return", "total_return", "{:+.2%}"),
    ("CAGR", "cagr", "{:+.2%}"),
    ("volatility (annual)", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("Calmar", "calmar", "{:.2f}"),
    ("exposure", "exposure", "{:.1%}"),
    ("trades (closed)", "trades.trades", "{:d}"),
    ("win rate", "trades.win_rate", "{:.1%}"),
    ("profit factor", "trades.profit_factor", "{:.2f}"),
)
# (label, field of PerformanceMetrics, format): the columns of the --bots table.
_BOT_COLUMNS = (
    ("return", "total_return", "{:+.2%}"),
    ("CAGR", "cagr", "{:+.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("max DD", "max_drawdown", "{:.2%}"),
)


def backtest(
    strategy: Annotated[
        str | None, typer.Option(help="The reference strategy: growth or value (or --bots)", show_default=False)
    ] = None,
    bots: Annotated[
        bool, typer.Option("--bots", help="The reference bots together, allocation and rebalancing as live")
    ] = False,
    data: Annotated[
        str | None,
        typer.Option(help="An imported dataset (`aegis data import`), for --strategy (default: the bundled data)"),
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: all of the data's)")] = None,
    start: Annotated[
        datetime | None, typer.Option(formats=_DAY, help="First day, YYYY-MM-DD (default: start of the bundle)")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(formats=_DAY, help="Last day, YYYY-MM-DD (default: end of the bundle)")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="--bots: keep the run's records here, a folder without records (default: temporary, deleted)"
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(help="Where to write the PNG chart (default: backtest-<strategy>.png, backtest-bots.png)"),
    ] = None,
    no_chart: Annotated[bool, typer.Option("--no-chart", help="Write no chart")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")] = False,
) -> None:
    """Backtest a reference strategy on the bundled daily bars (every order through the live risk guard), or
    the reference bots together through the live machinery."""
    if strategy is not None and bots:
        raise typer.BadParameter("give --strategy NAME or --bots, not both", param_hint=_MODE)
    if strategy is None and not bots:
        raise typer.BadParameter("give --strategy growth|value, or --bots for the reference bots", param_hint=_MODE)
    if chart is not None and no_chart:
        raise typer.BadParameter("give --chart PATH or --no-chart, not both", param_hint="'--chart' / '--no-chart'")
    if data_dir is not None and not bots:
        raise typer.BadParameter("only a --bots run keeps records", param_hint="'--data-dir'")
    if data is not None and bots:
        raise typer.BadParameter(
            "the reference bots trade the bundled tickers; backtest imported data with --strategy growth|value",
            param_hint="'--data' / '--bots'",
        )
    first, last = (start.date() if start else None), (end.date() if end else None)
    default_chart = Path(f"backtest-{strategy or 'bots'}.png")
    chart_path = None if no_chart else chart or default_chart
    if strategy is None:  # --bots
        options = BotsBacktestOptions(_symbols(symbols), first, last, data_dir, chart_path)
        report = _reported(lambda: run_bots_backtest(Settings(), options, on_day=_progress))
        if json_output:
            typer.echo(json.dumps(bots_report_json(report), indent=1))
        else:
            _print_bots(report, Console(soft_wrap=True))
        return
    dataset = None
    if data is not None:
        try:
            dataset = load_dataset(Settings().data_dir, data)
        except ValueError as exc:  # none of that name (it names those that exist), or its files changed
            raise typer.BadParameter(str(exc), param_hint="'--data'") from None
    single = BacktestOptions(strategy, _symbols(symbols), first, last, chart_path, dataset)
    strategy_report = _reported(lambda: run_backtest_job(Settings(), single))
    if json_output:
        typer.echo(json.dumps(report_json(strategy_report), indent=1))
    else:
        _print(strategy_report, Console(soft_wrap=True))


def _reported(job: Callable[[], _R]) -> _R:
    """The job's report; an input error it raises becomes a bad option naming the option it is about."""
    try:
        return job()
    except ValueError as exc:
        hint = next((option for kind, option in _OPTION_OF if isinstance(exc, kind)), None)
        if hint is None:
            raise
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


def report_json(report: BacktestReport) -> dict[str, Any]:
    """The report as JSON-ready values: fractions as fractions, non-finite numbers as None."""
    result, dates = report.result, report.dates
    dataset = report.options.dataset
    return {
        "strategy": result.strategy,
        "data": None
        if dataset is None
        else {
            "name": dataset.name,
            "source": dataset.source,
            "sha256": dataset.sha256,
            "real_fields": list(dataset.real_fields),
        },
        "symbols": list(result.symbols),
        "start": dates[0].isoformat(),
        "end": dates[-1].isoformat(),
        "bars": len(dates),
        "starting_cash": report.config.initial_cash,
        "final_equity": float(result.equity[-1]),
        "buy_and_hold_final_equity": float(report.benchmark.equity[-1]),
        "metrics": _finite(asdict(report.metrics)),
        "buy_and_hold": _finite(asdict(report.benchmark_metrics)),
        "orders": report.activity.orders,
        "fills": dict(report.activity.fills),
        "rejections": dict(report.activity.rejections),
        "expired": dict(report.activity.expired),
        "chart": None if report.chart is None else str(report.chart),
    }


def bots_report_json(report: BotsBacktestReport) -> dict[str, Any]:
    """The bots' report as JSON-ready values: fractions as fractions, non-finite numbers as None."""
    summary = report.summary
    return _finite(
        {
            "mode": "bots",
            "symbols": list(report.symbols),
            "start": report.dates[0].isoformat(),
            "end": report.dates[-1].isoformat(),
            "trading_days": len(report.dates),
            "warmup_days": WARMUP_DAYS,
            "curves_from": report.account.dates[0].isoformat(),
            "starting_cash": summary.start_equity,
            "final_equity": float(report.account.values[-1]),
            "buy_and_hold_final_equity": float(report.benchmark.values[-1]),
            "account": asdict(report.account_metrics),
            "buy_and_hold": asdict(report.benchmark_metrics),
            "bots": [
                {
                    "bot_id": bot.row.bot_id,
                    "strategy": bot.row.strategy,
                    "state": bot.row.state,
                    "starting_allocation": bot.starting_allocation,
                    "final_allocation": bot.row.allocation,
                    "starting_sleeve": bot.starting_sleeve,
                    "final_sleeve_value": float(bot.curve.values[-1]),
                    "curve_from": bot.curve.dates[0].isoformat(),
                    "curve_to": bot.curve.dates[-1].isoformat(),
                    "pnl": bot.row.pnl,
                    "positions": bot.row.positions,
                    "metrics": asdict(bot.metrics),
                }
                for bot in report.bots
            ],
            "rebalances": {"applied": report.rebalances_applied, "skipped": report.rebalances_skipped},
            "circuit_breaker_trips": report.breaker_trips,
            "events": summary.events,
            "orders": summary.orders,
            "fills": summary.fills,
            "records": None if report.records is None else str(report.records),
            "chart": None if report.chart is None else str(report.chart),
            "wall_seconds": report.wall_seconds,
        }
    )


def _symbols(value: str | None) -> tuple[str, ...] | None:
    """The asked symbols, upper case, each once; None: all bundled (the job checks they exist)."""
    if value is None:
        return None
    asked = tuple(dict.fromkeys(s.strip().upper() for s in value.split(",") if s.strip()))
    if not asked:
        raise typer.BadParameter(f"no symbol in {value!r}", param_hint="'--symbols'")
    return asked


def _print(report: BacktestReport, console: Console) -> None:
    result, dates, activity = report.result, report.dates, report.activity
    console.print(
        f"[bold]{result.strategy}[/] on {', '.join(result.symbols)}, {dates[0]}..{dates[-1]} ({len(dates)} bars); "
        f"starting cash {report.config.initial_cash:,.2f}; each bar's posture from its VIX",
        highlight=False,
    )
    if report.options.dataset is not None:
        dataset = report.options.dataset
        console.print(f"data: {data_label(dataset)}; {fields_note(dataset)}", highlight=False)
    table = Table("metric", result.strategy, "buy-and-hold")
    for label, name, shape in _ROWS:
        table.add_row(label, _shown(report.metrics, name, shape), _shown(report.benchmark_metrics, name, shape))
    console.print(table)
    fills = ", ".join(f"{reason} {count}" for reason, count in sorted(activity.fills.items())) or "none"
    console.print(
        f"orders {activity.orders}; fills {sum(activity.fills.values())} ({fills}); "
        f"rejections {sum(activity.rejections.values())}; expired {sum(activity.expired.values())}",
        highlight=False,
    )
    for title, reasons in (("rejected", activity.rejections), ("expired", activity.expired)):
        for reason, count in reasons.most_common():
            console.print(f"  {title} {count}x: {reason}", highlight=False, markup=False)
    console.print(f"chart: {report.chart}" if report.chart else "chart: not written (--no-chart)", highlight=False)


def _progress(day: DayProgress) -> None:
    """A line on stderr at the first trading day and every `PROGRESS_EVERY` (stdout may be the JSON)."""
    done = day.index + 1
    if day.index == 0:
        typer.echo(
            f"running the reference bots over {day.days} trading days from {day.day} "
            f"(the first {WARMUP_DAYS} warm up the indicators)",
            err=True,
        )
    elif done % PROGRESS_EVERY == 0:
        typer.echo(
            f"day {done} of {day.days} ({day.day}): account {day.equity:,.2f}, "
            f"buy-and-hold {day.benchmark_equity:,.2f}",
            err=True,
        )


def _print_bots(report: BotsBacktestReport, console: Console) -> None:
    summary, account = report.summary, report.account
    console.print(
        f"[bold]reference bots[/] on {', '.join(report.symbols)}, {report.dates[0]}..{report.dates[-1]} "
        f"({len(report.dates)} trading days, the first {WARMUP_DAYS} warm up the indicators); curves from "
        f"{account.dates[0]}; starting cash {summary.start_equity:,.2f}; roles: rules; {summary.events} events, "
        f"{summary.orders} orders, {summary.fills} fills",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)  # fits 80 columns
    table.add_column("curve", no_wrap=True)
    for label in (*(label for label, _, _ in _BOT_COLUMNS), "alloc", "start", "P&L"):
        table.add_column(label, justify="right", no_wrap=True)
    end_pnl = summary.end_equity - summary.start_equity
    table.add_row("account", *_bot_cells(report.account_metrics), "", "", f"{end_pnl:+,.2f}")
    benchmark_pnl = float(report.benchmark.values[-1] - report.benchmark.values[0])
    table.add_row("buy-and-hold", *_bot_cells(report.benchmark_metrics), "", "", f"{benchmark_pnl:+,.2f}")
    for bot in report.bots:
        allocation = (f"{bot.row.allocation:.1%}", f"{bot.starting_allocation:.1%}")
        table.add_row(bot.row.bot_id, *_bot_cells(bot.metrics), *allocation, f"{bot.row.pnl:+,.2f}")
    console.print(table)
    rebalance = report.rebalance
    console.print(
        f"rebalancing ({rebalance.schedule}, {rebalance.risk_level}, applied when the Sharpe ratio improves by >= "
        f"{rebalance.min_sharpe_improvement:.0%}): {report.rebalances_applied} applied, "
        f"{report.rebalances_skipped} skipped; circuit breaker: {report.breaker_trips} tripped",
        highlight=False,
    )
    console.print(
        "return: total return; max DD: maximum drawdown; alloc: the bot's allocation at the end (start: at the "
        "start); bots' curves: daily returns on each sleeve from its starting sleeve (a re-allocation is not a "
        "return); P&L since the bot began, fees included",
        highlight=False,
    )
    where = (
        f"chart: {report.chart} (every curve normalised to start at 1)"
        if report.chart
        else "chart: not written (--no-chart)"
    )
    console.print(where, highlight=False)
    kept = f"records: {report.records}" if report.records else "records: temporary, deleted (--data-dir keeps them)"
    console.print(f"{kept}; wall time {report.wall_seconds:.1f} s", highlight=False)


def _bot_cells(metrics: PerformanceMetrics) -> list[str]:
    return [_shown(metrics, name, shape) for _, name, shape in _BOT_COLUMNS]


def _shown(metrics: PerformanceMetrics, name: str, shape: str) -> str:
    value: Any = metrics
    for part in name.split("."):
        value = getattr(value, part)
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value == math.inf else "n/a"
    return shape.format(value)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _finite_value(value) for key, value in values.items()}


def _finite_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _finite(value)
    if isinstance(value, list):
        return [_finite_value(item) for item in value]
    return None if _non_finite(value) else value


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
