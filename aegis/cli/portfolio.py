"""`aegis portfolio`: analyse a portfolio of the bundled daily closes and propose the three risk profiles.

aegis portfolio
aegis portfolio --symbols AAPL,MSFT,JNJ,KO --start 2015-01-01 --profile moderate
aegis portfolio --lower 0.02 --upper 0.5 --json
aegis portfolio --bots --data-dir data/runs/20261203T120000

This module owns how an analysis reads on a terminal (`render_analysis`); as JSON it is
`tools.ops.portfolio_analysis.analysis_as_json` (the REST API's too). Both take any `PortfolioAnalysis`,
whatever its values came from. The arithmetic lives in `tools.ops.portfolio_analysis`; this command only loads
the values and prints. Bad input (an unknown symbol,
a bad date, bounds that leave nothing to optimise) is a `ValueError` or `typer.BadParameter`: one line, exit 2.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from aegis.cli.bots import DataDir, on_records
from quant.portfolio import RiskProfile
from tools.feeds.bundled import load_bundled_daily
from tools.ops.portfolio_analysis import SCORECARD_COLUMNS, PortfolioAnalysis, analyse_portfolio, analysis_as_json


class ProfileChoice(StrEnum):
    ALL = "all"
    CONSERVATIVE = RiskProfile.CONSERVATIVE.value
    MODERATE = RiskProfile.MODERATE.value
    AGGRESSIVE = RiskProfile.AGGRESSIVE.value


_DATE_FORMATS = ["%Y-%m-%d"]


def portfolio(
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma-separated tickers (default: every bundled symbol)")
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(formats=_DATE_FORMATS, help="First day, YYYY-MM-DD (default: the data's)")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(formats=_DATE_FORMATS, help="Last day, YYYY-MM-DD (default: the data's)")
    ] = None,
    profile: Annotated[ProfileChoice, typer.Option(help="The risk profile(s) to propose")] = ProfileChoice.ALL,
    lower: Annotated[float, typer.Option(help="Minimum weight per asset, a fraction of capital")] = 0.05,
    upper: Annotated[float, typer.Option(help="Maximum weight per asset, a fraction of capital")] = 0.40,
    risk_free: Annotated[float, typer.Option("--risk-free", help="Annual risk-free rate, a fraction")] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON instead of tables")] = False,
    bots: Annotated[
        bool, typer.Option("--bots", help="Analyse the bots of a run's records (their sleeves' daily returns)")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Scorecard, correlation and risk split of an equal-weight portfolio of the bundled daily closes (or,
    with --bots, of a run's bots at their allocation, under the rebalancing's bounds), and the conservative /
    moderate / aggressive portfolios with whether each is worth rebalancing to."""
    profiles = tuple(RiskProfile) if profile is ProfileChoice.ALL else (RiskProfile(profile.value),)
    if bots:
        if symbols or start or end:
            raise typer.BadParameter("the bots' own history is analysed: --symbols, --start and --end do not apply")
        analysis = on_records(data_dir, lambda pipeline: pipeline.portfolio(profiles))
        dates = analysis.scorecard.index
        heading = f"[bold]{len(dates)} bots[/] of the records, their sleeves' daily returns, at their allocation"
    else:
        panel = load_bundled_daily(_tickers(symbols), start.date() if start else None, end.date() if end else None)
        index = pd.DatetimeIndex(panel.dates, name="date")
        values = pd.DataFrame(panel.close, index=index, columns=list(panel.symbols))
        analysis = analyse_portfolio(values, bounds=(lower, upper), risk_free_rate=risk_free, profiles=profiles)
        span = f"{panel.dates[0]}..{panel.dates[-1]}" if panel.dates else "no dates"
        heading = f"[bold]{len(panel.symbols)} bundled symbols[/], daily closes {span} ({len(panel.dates)} days)"
    if as_json:
        typer.echo(json.dumps(analysis_as_json(analysis), indent=2))
        return
    console = Console(highlight=False)
    console.print(heading)
    render_analysis(console, analysis)


def render_analysis(console: Console, analysis: PortfolioAnalysis) -> None:
    """Print the analysis as tables: scorecard, correlation, the current weights' risk, the proposals, notes."""
    lower, upper = analysis.bounds
    console.print(
        f"bounds {_pct(lower)}..{_pct(upper)} per asset, risk-free rate {_pct(analysis.risk_free_rate)}, "
        f"rebalance when the Sharpe ratio improves by at least {_pct(analysis.min_relative_improvement)}"
    )
    for table in (_scorecard_table(analysis), _correlation_table(analysis), _current_table(analysis)):
        console.print()
        console.print(table)
    now = analysis.current
    console.print(
        f"current: expected return {_pct(now.expected_return)}, volatility {_pct(now.volatility)}, "
        f"Sharpe {_ratio(now.sharpe)}, diversification ratio {_ratio(analysis.diversification_ratio)}"
    )
    if analysis.proposals:
        for table in (_weights_table(analysis), _proposals_table(analysis)):
            console.print()
            console.print(table)
    for note in analysis.notes:
        console.print(f"note: {note}", markup=False)


def _tickers(symbols: str | None) -> list[str] | None:
    if symbols is None:
        return None
    tickers = [part.strip().upper() for part in symbols.split(",")]
    if not all(tickers):
        raise typer.BadParameter(f"{symbols!r} has an empty ticker; give e.g. AAPL,MSFT", param_hint="--symbols")
    return tickers


# ---- tables ------------------------------------------------------------------------------------


def _table(title: str, *headers: str, padding: int = 1) -> Table:
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, padding), pad_edge=False
    )
    table.add_column(headers[0])
    for header in headers[1:]:
        table.add_column(header, justify="right")
    return table


_SCORECARD_HEADERS = {
    "roi": "ROI",
    "annual_return": "return/yr",
    "annual_volatility": "volatility/yr",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "max drawdown",
}
_RATIOS = {"sharpe", "sortino"}


def _scorecard_table(analysis: PortfolioAnalysis) -> Table:
    table = _table("Scorecard", "asset", *(_SCORECARD_HEADERS[name] for name in SCORECARD_COLUMNS))
    for asset, row in analysis.scorecard.iterrows():
        table.add_row(
            str(asset), *(_ratio(row[name]) if name in _RATIOS else _pct(row[name]) for name in SCORECARD_COLUMNS)
        )
    return table


def _correlation_table(analysis: PortfolioAnalysis) -> Table:
    assets = [str(asset) for asset in analysis.correlation.columns]
    table = _table("Correlation of daily returns", "", *assets, padding=0)  # narrow: it has a column per asset
    for asset, row in analysis.correlation.iterrows():
        table.add_row(str(asset), *(_ratio(value) for value in row))
    return table


def _current_table(analysis: PortfolioAnalysis) -> Table:
    table = _table("Current weights", "asset", "weight", "risk share")
    for asset, weight in analysis.current_weights.items():
        table.add_row(str(asset), _pct(weight), _pct(analysis.risk_contributions[asset]))
    return table


def _weights_table(analysis: PortfolioAnalysis) -> Table:
    profiles = list(analysis.proposals.values())
    table = _table("Proposed weights", "asset", "current", *(proposal.profile.value for proposal in profiles))
    for asset, weight in analysis.current_weights.items():
        table.add_row(
            str(asset),
            _pct(weight),
            *(_pct(proposal.weights[asset]) if proposal.solved else "-" for proposal in profiles),
        )
    return table


def _proposals_table(analysis: PortfolioAnalysis) -> Table:
    threshold = _pct(analysis.min_relative_improvement)
    table = _table(
        "Proposals (annual figures)",
        "profile",
        "return",
        "volatility",
        "Sharpe",
        "vs now",
        "turnover",
        f"{threshold} rule",
    )
    table.add_row(
        "current",
        _pct(analysis.current.expected_return),
        _pct(analysis.current.volatility),
        _ratio(analysis.current.sharpe),
        "",
        "",
        "",
    )
    for profile, proposal in analysis.proposals.items():
        if not proposal.solved:
            table.add_row(profile.value, "-", "-", "-", "-", "-", "not solved")
            continue
        table.add_row(
            profile.value,
            _pct(proposal.expected_return),
            _pct(proposal.volatility),
            _ratio(proposal.sharpe),
            _change(proposal.sharpe_improvement),
            _pct(proposal.turnover),
            "rebalance" if proposal.rebalance else "keep",
        )
    return table


# ---- numbers -----------------------------------------------------------------------------------


def _pct(fraction: float) -> str:
    return f"{fraction:.1%}" if math.isfinite(fraction) else _odd(fraction)


def _ratio(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else _odd(value)


def _change(relative: float) -> str:
    return f"{relative:+.1%}" if math.isfinite(relative) else _odd(relative)


def _odd(value: float) -> str:
    return "n/a" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
