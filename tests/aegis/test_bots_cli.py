"""`aegis bots list | stop | resume` on a run's records: the table, the audited stop and resume, one-line errors."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from aegis.pipeline import Pipeline
from aegis.runtime.replay_job import ReplayOptions, run_replay
from aegis.settings import Settings
from state.clock import WallClock
from state.store.factory import open_store
from tools.ops.portfolio_analysis import PortfolioAnalysis


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    options = ReplayOptions(start=date(2013, 1, 2), end=date(2013, 12, 31), days_per_second=0)
    asyncio.run(run_replay(Settings(data_dir=folder), options))
    return folder


def test_list_shows_each_reference_bot_with_its_allocation_and_figures(records: Path) -> None:
    result = CliRunner().invoke(app, ["bots", "list", "--data-dir", str(records)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["bot", "alloc", "state", "P&L", "return", "Sharpe", "max", "DD", "pos"]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert set(rows) == {"screen-tech", "screen-cyclical", "growth", "value"}
    shares = [float(row[1].rstrip("%")) for row in rows.values()]
    assert sum(shares) == pytest.approx(100.0, abs=0.2) and all(5.0 - 0.05 <= s <= 40.0 + 0.05 for s in shares)
    states = {row[2] for row in rows.values()}  # a bot may have been stopped by the rules (e.g. a losing streak)
    assert "running" in states and states <= {"running", "stopped"}


def test_stop_and_resume_are_audited_and_refuse_unknown_bots(records: Path) -> None:
    runner = CliRunner()
    stopped = runner.invoke(app, ["bots", "stop", "growth", "--reason", "review", "--actor", "ana",
                                  "--data-dir", str(records)])  # fmt: skip
    assert stopped.exit_code == 0, stopped.output
    assert "growth: STOPPED (review, by ana)" in stopped.output
    listed = runner.invoke(app, ["bots", "list", "--data-dir", str(records)])
    assert "growth: stopped, review (ana)" in listed.output
    resumed = runner.invoke(app, ["bots", "resume", "growth", "--reason", "done", "--actor", "ana",
                                  "--data-dir", str(records)])  # fmt: skip
    assert resumed.exit_code == 0 and "growth: RUNNING (done, by ana)" in resumed.output

    async def audited() -> list[str]:
        store = await open_store(None, records / "records.sqlite", WallClock())
        try:
            return [e["action"] for e in await store.audit_log(limit=1000) if e["actor"] == "ana"]
        finally:
            await store.close()

    assert asyncio.run(audited()) == ["bot_running", "bot_stopped"]

    unknown = runner.invoke(app, ["bots", "stop", "ghost", "--reason", "x", "--data-dir", str(records)])
    assert unknown.exit_code == 2
    assert "no bot 'ghost' (bots: screen-tech, screen-cyclical, growth, value)" in unknown.output
    blank = runner.invoke(app, ["bots", "stop", "growth", "--reason", " ", "--data-dir", str(records)])
    assert blank.exit_code == 2 and "--reason must say why" in blank.output


def test_a_folder_without_records_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bots", "list", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "holds no records" in result.output


def test_portfolio_of_the_bots_is_the_python_apis_analysis_labelled_by_bot(records: Path) -> None:
    result = CliRunner().invoke(app, ["portfolio", "--bots", "--data-dir", str(records), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)

    async def analysed() -> PortfolioAnalysis:
        settings = Settings(data_dir=records, checkpoints=False)
        async with await Pipeline.open(settings) as pipeline:
            return await pipeline.portfolio()

    analysis = asyncio.run(analysed())
    bots = ["screen-tech", "screen-cyclical", "growth", "value"]
    assert list(analysis.scorecard.index) == bots == list(shown["scorecard"])
    assert list(analysis.correlation.columns) == bots
    assert shown["scorecard"]["growth"]["sharpe"] == pytest.approx(analysis.scorecard.loc["growth", "sharpe"])
    assert analysis.bounds == (0.05, 0.40) and analysis.risk_free_rate == 0.0  # the rebalancing's settings
    assert analysis.risk_contributions.sum() == pytest.approx(1.0)
    current = analysis.current_weights
    assert sum(current) == pytest.approx(1.0) and list(current.index) == bots
    for proposal in analysis.proposals.values():
        if proposal.error is None:
            assert list(proposal.weights.index) == bots
            assert all(0.05 - 1e-9 <= w <= 0.40 + 1e-9 for w in proposal.weights)

    table = CliRunner().invoke(app, ["portfolio", "--bots", "--data-dir", str(records)])
    assert table.exit_code == 0 and "4 bots of the records" in table.output and "screen-tech" in table.output
    mixed = CliRunner().invoke(app, ["portfolio", "--bots", "--symbols", "AAPL", "--data-dir", str(records)])
    assert mixed.exit_code == 2 and "do not apply" in mixed.output
