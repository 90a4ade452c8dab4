"""The live view renders every outcome (the operations flows' too) and the bots' table."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from rich.console import Console

from aegis.runtime.bot_report import BotRow
from aegis.runtime.live_view import render
from aegis.runtime.replay_job import DayProgress
from aegis.runtime.summary import RunTally
from state.decisions import DecisionRecord, Outcome


def _progress(bots: tuple[BotRow, ...]) -> DayProgress:
    tally = RunTally()
    for n, outcome in enumerate(Outcome):
        tally.recall(DecisionRecord(event_id=f"e{n}", event_type="X", outcome=outcome, reason=f"[{outcome}] why",
                                    decided_at=datetime(2016, 3, 1, 21, tzinfo=UTC)))  # fmt: skip
    return DayProgress(day=date(2016, 3, 1), index=10, days=20, vix=14.0, posture="offensive", equity=100_500.0,
                       benchmark_equity=101_000.0, positions={}, tally=tally, bots=bots)  # fmt: skip


def _text(progress: DayProgress) -> str:
    console = Console(width=140, record=True)
    console.print(render(progress))
    return console.export_text()


def test_every_outcome_renders_even_without_a_style_of_its_own() -> None:
    text = _text(_progress(()))
    shown = [outcome.value for outcome in Outcome if outcome.value in text]
    assert len(shown) >= 8  # the view shows the last eight decisions, whatever their outcome
    assert "[skipped] why" in text  # reasons are text, never markup
    assert "bots (aegis bots list)" not in text


def test_the_bots_table_shows_allocation_state_pnl_sharpe_and_drawdown() -> None:
    rows = (
        BotRow("screen-tech", "screen", 0.4, "running", "x", 800.19, 1, 250, 0.0337, 0.63, -0.0115),
        BotRow("growth", "growth", 0.05, "stopped", "breaker", -215.6, 0, 250, -0.0307, -0.15, -0.0842),
        BotRow("fresh", "value", 0.15, "running", "x", 0.0, 0, 0, math.nan, math.nan, math.nan),
    )
    text = _text(_progress(rows))
    lines = [line for line in text.splitlines() if line.strip().startswith(("screen-tech", "growth", "fresh"))]
    assert [line.split()[0] for line in lines] == ["screen-tech", "growth", "fresh"]
    assert lines[0].split()[1:] == ["│", "40.0%", "│", "running", "│", "+800.19", "│", "+3.37%", "│", "+0.63", "│",
                                    "-1.15%", "│", "1"]  # fmt: skip
    assert "stopped" in lines[1] and "-8.42%" in lines[1]
    assert lines[2].count("n/a") == 3  # no history yet: no figures, not zeros


def test_a_reason_quoting_markup_is_shown_as_text() -> None:
    progress = _progress(())
    progress.tally.recall(DecisionRecord(event_id="e-[b]", event_type="NEWS", outcome=Outcome.REJECTED,
                                         reason="payload.headline: '[/] [red]' is not allowed",
                                         decided_at=datetime(2016, 3, 1, 21, tzinfo=UTC)))  # fmt: skip
    text = _text(progress)
    assert "e-[b]" in text and "'[/] [red]' is not allowed" in text
