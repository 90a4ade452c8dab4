"""`aegis run` end to end on a short window of the bundled real data."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis import Settings
from aegis.cli import app
from aegis.cli.replay import decision_summary, replay_tape
from aegis.runtime.replay_job import WARMUP_DAYS, DayProgress, ReplayOptions, run_replay
from state.decisions import DecisionRecord

SYMBOLS = ("AAPL", "MSFT", "JPM", "XOM", "WMT")


async def test_a_replay_deliberates_real_triggers_and_leaves_consistent_records(tmp_path: Path) -> None:
    days: list[DayProgress] = []
    events_by_day: list[int] = []

    def on_day(progress: DayProgress) -> None:
        days.append(progress)
        events_by_day.append(progress.tally.events)  # the tally is live: read it on the day

    options = ReplayOptions(symbols=SYMBOLS, start=date(2013, 1, 2), end=date(2013, 12, 31), days_per_second=0)
    summary = await run_replay(Settings(data_dir=tmp_path), options, on_day=on_day)

    assert summary.trading_days == len(days) == 252
    assert summary.events > 20, "the trigger screen should turn some real bars into events"
    operations = sum(summary.operations.values())  # the bots' rebalancing (weekly) and breaker events
    assert operations >= 40 and {outcome for _, outcome in summary.operations} <= {"applied", "skipped"}
    assert summary.events == (
        summary.screened_out + summary.vetoes + summary.holds + summary.blocked + summary.orders + summary.rejected
        + operations
    )  # fmt: skip
    assert summary.deliberations > 0 and summary.orders > 0
    assert summary.rejected == 0 and summary.failed_sessions == 0
    assert events_by_day[WARMUP_DAYS - 1] == 0, "no events during the warm-up"
    assert events_by_day[-1] == summary.events

    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        decisions = db.execute("SELECT outcome, COUNT(*) FROM decisions GROUP BY outcome").fetchall()
        orders = db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM orders").fetchone()
        fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        postures = db.execute("SELECT COUNT(*) FROM posture_history").fetchone()[0]
    recorded = dict(decisions)
    assert sum(recorded.values()) == summary.events
    assert recorded.get("ordered", 0) == summary.orders == orders[0] == orders[1]
    assert fills == summary.fills and fills > 0
    assert postures >= 1
    assert (tmp_path / "checkpoints.sqlite").exists()
    assert summary.end_equity == days[-1].equity
    assert summary.latencies["session"].n == summary.events - operations
    # The bots: every fill belongs to one, and their P&L adds up to the account's.
    # growth trades JNJ and PFE, which this window leaves out: it is not registered
    assert {row.bot_id for row in summary.bots} == {"screen-tech", "screen-cyclical", "value"}
    assert sum(row.allocation for row in summary.bots) <= 1.0 + 1e-9
    bots_pnl = sum(row.pnl for row in summary.bots)
    assert bots_pnl == pytest.approx(summary.end_equity - summary.start_equity, abs=1e-6)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        owners = {bot for (bot,) in db.execute("SELECT DISTINCT bot_id FROM fills")}
    assert owners and owners <= {row.bot_id for row in summary.bots}


async def test_a_concurrent_run_decides_and_writes_as_the_replay_of_its_tape(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    options = ReplayOptions(
        symbols=SYMBOLS, start=date(2013, 1, 2), end=date(2013, 9, 30), days_per_second=0, concurrency=4,
        events_out=tape,
    )  # fmt: skip
    await run_replay(Settings(data_dir=tmp_path / "run"), options)
    replayed = await replay_tape(Settings(data_dir=tmp_path / "replay"), tape)  # one session at a time

    with sqlite3.connect(tmp_path / "run" / "records.sqlite") as db:
        rows = db.execute("SELECT record FROM decisions ORDER BY seq").fetchall()  # the order they were written
    ran = [DecisionRecord.model_validate_json(record) for (record,) in rows]
    assert len(ran) == len(replayed) > 10
    assert [decision_summary(d) for d in ran] == [decision_summary(d) for d in replayed]


def test_the_cli_prints_the_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "--symbols", "AAPL,MSFT", "--start", "2014-01-02", "--end", "2014-06-30", "--speed", "0",
         "--data-dir", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AEGIS run summary" in result.output
    assert "rules (deterministic baseline, not an LLM)" in result.output
    assert "vs buy-and-hold" in result.output
    assert "book exposure" in result.output and "buy-and-hold at the book's exposure" in result.output
    assert (tmp_path / "run" / "records.sqlite").exists()


def test_the_cli_refuses_an_unknown_symbol_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--symbols", "NOPE", "--data-dir", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "NOPE" in str(result.exception) or "NOPE" in result.output
