"""`aegis backtest --bots` on the bundled real data: the live run's own figures, each bot's from the records,
the rebalancing counts the records hold, a chart, and one line with exit 2 for a bad option."""

from __future__ import annotations

import asyncio
import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner, Result

import aegis.cli.backtest as backtest_cli
from aegis.cli.errors import AegisCommand, AegisGroup
from aegis.runtime.bot_report import BotRow, bot_rows
from aegis.runtime.bots_backtest import BotsBacktestReport, run_bots_backtest
from aegis.runtime.replay_job import WARMUP_DAYS
from aegis.runtime.summary import read_records
from aegis.settings import Settings
from state.bots import BotDay
from state.clock import WallClock
from state.decisions import DecisionRecord
from state.store.factory import open_store
from tools.feeds.bundled import load_bundled_daily
from tools.ops.allocation import bot_returns

WINDOW = ("--start", "2013-01-02", "--end", "2013-12-31")
BOT_IDS = ("screen-tech", "screen-cyclical", "growth", "value")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

cli = typer.Typer(cls=AegisGroup, add_completion=False)


@cli.callback()
def _root() -> None:
    """A group, as in `aegis`, so that a failure goes through the real report (`AegisGroup`)."""


cli.command("backtest", cls=AegisCommand)(backtest_cli.backtest)


def aegis(*args: str) -> Result:
    return CliRunner().invoke(cli, ["backtest", *args], prog_name="aegis")


@dataclass(frozen=True)
class BotsRun:
    """One `aegis backtest --bots --json` over 2013 with its records kept, and what the records hold."""

    folder: Path
    result: Result
    shown: dict[str, Any]
    report: BotsBacktestReport  # what the command printed, as the job returned it
    starting_cash: float
    records_equity: float
    rows: list[BotRow]
    decisions: list[DecisionRecord]
    marks: list[BotDay]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> BotsRun:
    folder = tmp_path_factory.mktemp("bots")
    reports: list[BotsBacktestReport] = []

    def recorded(*args: Any, **kwargs: Any) -> BotsBacktestReport:
        reports.append(run_bots_backtest(*args, **kwargs))
        return reports[-1]

    with pytest.MonkeyPatch.context() as patch:
        _default_settings(patch)
        patch.chdir(folder)
        patch.setattr(backtest_cli, "run_bots_backtest", recorded)
        result = aegis("--bots", *WINDOW, "--json", "--data-dir", "records", "--chart", "bots.png")
    assert result.exit_code == 0, (result.output, result.exception)
    starting_cash = Settings().starting_cash

    async def read() -> tuple[float, list[BotRow], list[DecisionRecord], list[BotDay]]:
        store = await open_store(None, folder / "records" / "records.sqlite", WallClock())
        try:
            equity = (await read_records(store, starting_cash)).equity
            return equity, await bot_rows(store), await store.decisions(), await store.bot_days()
        finally:
            await store.close()

    equity, rows, decisions, marks = asyncio.run(read())
    return BotsRun(folder, result, json.loads(result.stdout), reports[0], starting_cash, equity, rows, decisions, marks)


@pytest.fixture(scope="module")
def table(run: BotsRun) -> dict[str, list[str]]:
    """The table `aegis backtest --bots` prints for the same report, by row label."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backtest_cli, "run_bots_backtest", lambda *args, **kwargs: run.report)
        result = aegis("--bots", *WINDOW)
    assert result.exit_code == 0, (result.output, result.exception)
    rows = {}
    for line in result.stdout.splitlines():
        cells = line.split()
        if cells and cells[0] in ("account", "buy-and-hold", *BOT_IDS):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _default_settings(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _default_settings(patch: pytest.MonkeyPatch) -> None:
    """Default settings: no AEGIS_* variable, and a working directory without a config/ folder."""
    for name in [n for n in os.environ if n.startswith("AEGIS_")]:
        patch.delenv(name)


# ---- the run's figures ------------------------------------------------------------------------------


def test_the_table_has_the_account_buy_and_hold_and_the_four_bots(table: dict[str, list[str]]) -> None:
    assert list(table) == ["account", "buy-and-hold", *BOT_IDS]
    assert all(len(cells) == 5 for label, cells in table.items() if label in ("account", "buy-and-hold"))
    assert all(len(cells) == 7 for label, cells in table.items() if label in BOT_IDS)


def test_the_accounts_total_return_is_the_runs_exactly(run: BotsRun) -> None:
    summary = run.report.summary
    assert run.shown["account"]["total_return"] == summary.end_equity / summary.start_equity - 1.0
    assert run.shown["account"]["total_return"] == run.records_equity / run.starting_cash - 1.0
    assert run.shown["final_equity"] == run.records_equity
    assert run.shown["starting_cash"] == run.starting_cash
    # Buy-and-hold is the basket `aegis run` reports.
    assert run.shown["buy_and_hold"]["total_return"] == pytest.approx(summary.benchmark_return, rel=1e-12)


def test_the_curves_start_at_the_last_warm_up_close_with_the_starting_cash(run: BotsRun) -> None:
    dates = load_bundled_daily(None, run.report.dates[0], run.report.dates[-1]).dates
    assert run.shown["curves_from"] == dates[WARMUP_DAYS - 1].isoformat()
    account, benchmark = run.report.account, run.report.benchmark
    assert account.dates == benchmark.dates == dates[WARMUP_DAYS - 1 :]
    assert account.values[0] == benchmark.values[0] == run.starting_cash


def test_each_bots_pnl_and_allocation_are_bot_rows_of_the_same_records(
    run: BotsRun, table: dict[str, list[str]]
) -> None:
    assert [bot["bot_id"] for bot in run.shown["bots"]] == [row.bot_id for row in run.rows] == list(BOT_IDS)
    for bot, row in zip(run.shown["bots"], run.rows, strict=True):
        assert bot["pnl"] == row.pnl
        assert bot["final_allocation"] == row.allocation
        assert table[row.bot_id][-1] == f"{row.pnl:+,.2f}"
        assert table[row.bot_id][4] == f"{row.allocation:.1%}"
    assert sum(bot["starting_allocation"] for bot in run.shown["bots"]) == pytest.approx(1.0)


def test_each_bots_curve_is_its_sleeves_growth_from_its_starting_sleeve(run: BotsRun) -> None:
    history = bot_returns(run.marks, BOT_IDS)
    first = {mark.bot_id: mark for mark in sorted(run.marks, key=lambda m: m.day, reverse=True)}  # earliest wins
    for i, (bot, row) in enumerate(zip(run.report.bots, run.rows, strict=True)):
        assert bot.starting_sleeve == first[row.bot_id].sleeve
        assert bot.starting_sleeve == pytest.approx(bot.starting_allocation * run.starting_cash, rel=1e-12)
        np.testing.assert_allclose(bot.curve.values, history.growth()[:, i] * bot.starting_sleeve, rtol=1e-12)
        assert bot.curve.dates[0] == run.report.account.dates[0]  # the first mark values the last warm-up close
        assert bot.curve.dates[-1] == run.report.dates[-2]  # the last mark values the day before the window's end
        assert bot.metrics.total_return == pytest.approx(row.total_return, rel=1e-9, abs=1e-15)
        assert bot.metrics.max_drawdown == pytest.approx(row.max_drawdown, rel=1e-9, abs=1e-15)


def test_the_rebalancing_counts_are_the_decisions_in_the_records(run: BotsRun) -> None:
    operations = Counter((d.event_type, str(d.outcome)) for d in run.decisions)
    applied, skipped = operations[("REBALANCING_DUE", "applied")], operations[("REBALANCING_DUE", "skipped")]
    assert run.shown["rebalances"] == {"applied": applied, "skipped": skipped}
    assert run.shown["circuit_breaker_trips"] == operations[("CIRCUIT_BREAKER", "applied")]
    assert applied + skipped >= 30  # weekly over the ~9 months decided
    assert applied >= 1  # the optimiser's allocation beat the starting one by 5 % at least once in 2013
    assert [bot["final_allocation"] for bot in run.shown["bots"]] != [
        bot["starting_allocation"] for bot in run.shown["bots"]
    ]


def test_the_json_agrees_with_the_table(run: BotsRun, table: dict[str, list[str]]) -> None:
    shown = run.shown
    curves = {"account": shown["account"], "buy-and-hold": shown["buy_and_hold"]}
    curves.update({bot["bot_id"]: bot["metrics"] for bot in shown["bots"]})
    for label, metrics in curves.items():
        expected = [
            f"{metrics['total_return']:+.2%}",
            f"{metrics['cagr']:+.2%}",
            f"{metrics['sharpe']:.2f}",
            f"{metrics['max_drawdown']:.2%}",
        ]
        assert table[label][:4] == expected, label
    assert table["account"][-1] == f"{shown['final_equity'] - shown['starting_cash']:+,.2f}"
    assert table["buy-and-hold"][-1] == f"{shown['buy_and_hold_final_equity'] - shown['starting_cash']:+,.2f}"
    for bot in shown["bots"]:
        assert table[bot["bot_id"]][5] == f"{bot['starting_allocation']:.1%}"


def test_the_json_has_no_non_finite_number(run: BotsRun) -> None:
    assert "NaN" not in run.result.stdout and "Infinity" not in run.result.stdout
    assert run.shown["account"]["trades"]["win_rate"] is None  # no closed-trade list for a live run: null
    assert all(math.isfinite(v) for v in (run.shown["final_equity"], run.shown["buy_and_hold_final_equity"]))


def test_the_chart_is_a_png_and_the_records_are_kept(run: BotsRun) -> None:
    data = (run.folder / "bots.png").read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    assert run.shown["chart"] == "bots.png"
    assert run.shown["records"] == "records"
    assert (run.folder / "records" / "records.sqlite").is_file()
    assert (run.folder / "records" / "aegis.log").is_file()  # the run's log, off the terminal


def test_progress_is_one_line_on_stderr_every_100_trading_days(run: BotsRun) -> None:
    lines = run.result.stderr.splitlines()
    assert lines[0].startswith("running the reference bots over 252 trading days from 2013-01-02")
    assert [line.split(" (")[0] for line in lines[1:]] == ["day 100 of 252", "day 200 of 252"]
    assert all("account" in line and "buy-and-hold" in line for line in lines[1:])


def test_without_data_dir_the_records_go_to_a_temporary_folder_deleted_afterwards(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = isolated / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # Two symbols, one bot, 82 trading days: the shortest run worth making, to keep this quick.
    result = aegis("--bots", "--symbols", "KO,WMT", "--start", "2013-01-02", "--end", "2013-04-30", "--no-chart")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "value" in result.stdout and "records: temporary, deleted" in result.stdout
    assert not list(scratch.iterdir())
    assert not list(isolated.glob("*.png"))


# ---- bad input: one line, exit 2 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--bots", "--strategy", "growth"), ["'--strategy' / '--bots'", "not both"]),
        (("--symbols", "AAPL"), ["'--strategy' / '--bots'", "give --strategy growth|value, or --bots"]),
        (("--strategy", "growth", "--data-dir", "records"), ["--data-dir", "only a --bots run keeps records"]),
        (("--bots", "--start", "2013-01-02", "--end", "2013-03-28"), ["60 trading days", "at least 62"]),
        (("--bots", "--start", "2014-01-01", "--end", "2013-01-01"), ["start 2014-01-01 is after end 2013-01-01"]),
        (("--bots", "--symbols", "AAPL,FOO"), ["--symbols", "unknown symbol 'FOO'"]),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(isolated: Path, args: tuple[str, ...], expected: list[str]) -> None:
    result = aegis(*args)
    _one_line_exit_2(result, expected)
    assert not list(isolated.iterdir())  # no chart, no records folder


def test_a_data_dir_holding_records_is_refused(run: BotsRun) -> None:
    result = aegis("--bots", *WINDOW, "--data-dir", str(run.folder / "records"))
    _one_line_exit_2(result, ["--data-dir", "holds records already"])


def _one_line_exit_2(result: Result, expected: list[str]) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aegis backtest: ") and "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]
