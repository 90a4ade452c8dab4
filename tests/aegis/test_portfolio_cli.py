"""`aegis portfolio` on the bundled closes: the tables, JSON that parses and matches the analysis, and one line
(exit 2) for bad input. Run through a local Typer app built the way `aegis.cli` registers the command."""

from __future__ import annotations

import io
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner, Result

from aegis.cli.errors import AegisCommand, AegisGroup
from aegis.cli.portfolio import portfolio, render_analysis
from quant.portfolio import RiskProfile
from tools.feeds.bundled import load_bundled_daily
from tools.ops.portfolio_analysis import analyse_portfolio, analysis_as_json

app = typer.Typer(cls=AegisGroup, add_completion=False)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug")) -> None:
    """A root group with --debug, as in `aegis.cli`, so failures are reported the same way."""


app.command("portfolio", cls=AegisCommand)(portfolio)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AEGIS_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "120")


def aegis(*args: str) -> Result:
    return CliRunner().invoke(app, ["portfolio", *args], prog_name="aegis")


def assert_one_line(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]


def test_prints_the_scorecard_correlation_risk_split_and_every_proposal() -> None:
    result = aegis()
    assert result.exit_code == 0, result.output
    out = result.stdout
    symbols = load_bundled_daily().symbols
    assert f"{len(symbols)} bundled symbols" in out
    for title in ("Scorecard", "Correlation of daily returns", "Current weights", "Proposed weights", "Proposals"):
        assert title in out
    for symbol in symbols:
        assert symbol in out
    for profile in RiskProfile:
        assert profile.value in out
    assert "diversification ratio" in out
    assert "rebalance" in out
    assert "keep" in out  # the conservative profile falls short of the 5 % rule on this data
    assert "current weights unknown" in out


def test_json_parses_and_carries_the_analysis_of_the_chosen_symbols_and_window() -> None:
    result = aegis("--symbols", "aapl, MSFT,JNJ,KO,XOM", "--start", "2014-01-02", "--end", "2016-12-30", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)

    panel = load_bundled_daily(["AAPL", "MSFT", "JNJ", "KO", "XOM"], date(2014, 1, 2), date(2016, 12, 30))
    values = pd.DataFrame(panel.close, index=pd.DatetimeIndex(panel.dates), columns=list(panel.symbols))
    analysis = analyse_portfolio(values)
    assert list(data["scorecard"]) == ["AAPL", "MSFT", "JNJ", "KO", "XOM"]
    assert data["scorecard"]["KO"]["sharpe"] == analysis.scorecard.loc["KO", "sharpe"]
    assert data["current"]["diversification_ratio"] == analysis.diversification_ratio
    assert sum(data["current"]["risk_contributions"].values()) == pytest.approx(1.0)
    assert list(data["proposals"]) == ["conservative", "moderate", "aggressive"]
    moderate = data["proposals"]["moderate"]
    assert moderate["weights"] == analysis.proposals[RiskProfile.MODERATE].weights.to_dict()
    assert moderate["error"] is None
    assert isinstance(moderate["rebalance"], bool)


def test_one_profile_and_other_bounds_on_request() -> None:
    result = aegis("--profile", "aggressive", "--lower", "0.02", "--upper", "0.5", "--risk-free", "0.01", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["proposals"]) == ["aggressive"]
    assert data["bounds"] == [0.02, 0.5]
    assert data["risk_free_rate"] == 0.01
    assert max(data["proposals"]["aggressive"]["weights"].values()) == pytest.approx(0.5)


def test_an_unknown_symbol_is_one_line_and_exit_2() -> None:
    assert_one_line(aegis("--symbols", "AAPL,XYZ"), "unknown symbol 'XYZ'", "AAPL")


def test_a_bad_date_is_one_line_and_exit_2() -> None:
    assert_one_line(aegis("--start", "2012-13-01"), "--start", "2012-13-01")


def test_bounds_that_leave_nothing_to_optimise_are_one_line_and_exit_2() -> None:
    assert_one_line(aegis("--lower", "0.1"), "12 assets at a 10 % minimum need 120 % of capital")
    assert_one_line(
        aegis("--symbols", "AAPL,MSFT,JNJ,KO", "--upper", "0.25"), "nothing to optimise", "widen the bounds"
    )


def test_an_empty_ticker_and_a_window_without_returns_are_one_line_and_exit_2() -> None:
    assert_one_line(aegis("--symbols", "AAPL,,KO"), "--symbols", "empty ticker")
    assert_one_line(aegis("--start", "2017-09-01"), "at least 2 dates")


def test_render_shows_an_unsolved_profile_and_json_has_null_figures_and_the_error() -> None:
    panel = load_bundled_daily()
    closes = pd.DataFrame(panel.close, index=pd.DatetimeIndex(panel.dates), columns=list(panel.symbols))
    falling = closes.mul(0.5 ** (np.arange(len(closes)) / 252.0), axis=0)  # every asset loses money
    analysis = analyse_portfolio(falling)
    out = io.StringIO()
    render_analysis(Console(file=out, width=120, highlight=False), analysis)
    text = out.getvalue()
    assert "not solved" in text
    assert "no moderate proposal" in text
    moderate = json.loads(json.dumps(analysis_as_json(analysis)))["proposals"]["moderate"]
    assert moderate["weights"] == {}
    assert moderate["sharpe"] is None
    assert "risk-free rate" in moderate["error"]
