"""`aegis backtest`: a reference strategy on the bundled real data through the live risk guard, vs buy-and-hold.

aegis backtest --strategy growth --symbols AAPL,MSFT --start 2013-01-01 --end 2016-12-31
aegis backtest --strategy value --json --no-chart

Prints the engine's metrics next to equal-weight buy-and-hold of the same symbols, what the orders became
(placed, filled by reason, rejected and expired by reason) and where the chart went; `--json` prints the same
as one JSON object (non-finite numbers as null). The work is `aegis.runtime.backtest_job`; this module only
reads options and shows the report. A bad option is one line and exit 2 (`aegis.cli.errors`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aegis.runtime.backtest_job import (
    BacktestOptions,
    BacktestReport,
    BacktestWindowError,
    UnknownStrategyError,
    run_backtest_job,
)
from aegis.settings import Settings
from quant.metrics import PerformanceMetrics
from tools.feeds.bundled import UnknownSymbolError

_DAY = ["%Y-%m-%d"]
# Which option a job's input error is about, so the one line names it.
_OPTION_OF: tuple[tuple[type[ValueError], str], ...] = (
    (UnknownStrategyError, "'--strategy'"),
    (UnknownSymbolError, "'--symbols'"),
    (BacktestWindowError, "'--start' / '--end'"),
)
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


def backtest(
    strategy: Annotated[str, typer.Option(help="The reference strategy: growth or value")],
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: all bundled)")] = None,
    start: Annotated[
        datetime | None, typer.Option(formats=_DAY, help="First day, YYYY-MM-DD (default: start of the bundle)")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(formats=_DAY, help="Last day, YYYY-MM-DD (default: end of the bundle)")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="Where to write the PNG chart (default: backtest-<strategy>.png)")
    ] = None,
    no_chart: Annotated[bool, typer.Option("--no-chart", help="Write no chart")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")] = False,
) -> None:
    """Backtest a reference strategy on the bundled daily bars, every order through the live risk guard."""
    if chart is not None and no_chart:
        raise typer.BadParameter("give --chart PATH or --no-chart, not both", param_hint="'--chart' / '--no-chart'")
    options = BacktestOptions(
        strategy=strategy,
        symbols=_symbols(symbols),
        start=start.date() if start else None,
        end=end.date() if end else None,
        chart=None if no_chart else chart or Path(f"backtest-{strategy}.png"),
    )
    try:
        report = run_backtest_job(Settings(), options)
    except ValueError as exc:
        hint = next((option for kind, option in _OPTION_OF if isinstance(exc, kind)), None)
        if hint is None:
            raise
        raise typer.BadParameter(str(exc), param_hint=hint) from exc
    if json_output:
        typer.echo(json.dumps(report_json(report), indent=1))
    else:
        _print(report, Console(soft_wrap=True))


def report_json(report: BacktestReport) -> dict[str, Any]:
    """The report as JSON-ready values: fractions as fractions, non-finite numbers as None."""
    result, dates = report.result, report.dates
    return {
        "strategy": result.strategy,
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


def _shown(metrics: PerformanceMetrics, name: str, shape: str) -> str:
    value: Any = metrics
    for part in name.split("."):
        value = getattr(value, part)
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value == math.inf else "n/a"
    return shape.format(value)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _finite(value) if isinstance(value, dict) else None if _non_finite(value) else value
        for key, value in values.items()
    }


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
