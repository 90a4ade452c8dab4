"""A set built with bots: its events belong to the reference bots, the runner registers them, and the
scores split by bot add up to the run's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from aegis.runtime.tape_bots import tape_bots_path
from evals.report import BY_BOT_FILE, REPORT_FILE, write_report
from evals.runner import DECISIONS_FILE, RunOptions, read_lines, run_set
from evals.scores import scores_by_bot
from evals.sets import TAPE_FILE, SetSpec, build_set

SPEC = SetSpec("bots", date(2014, 1, 1), date(2014, 12, 31), symbols=("AAPL", "JPM", "JNJ", "KO"), bots=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("eval")
    folder = build_set(SPEC, root / "sets")
    out = root / "run"
    run_set(folder, out, RunOptions(progress=False))
    return folder, out


def test_the_sets_events_name_the_bot_whose_universe_holds_their_symbol(run: tuple[Path, Path]) -> None:
    folder, _ = run
    owner = {"AAPL": "screen-tech", "JPM": "screen-cyclical", "JNJ": "growth", "KO": "value"}
    events = [json.loads(line) for line in (folder / TAPE_FILE).read_text().splitlines()]
    signals = [e for e in events if e["type"] == "SIGNAL_GENERATED"]
    assert signals and all(e["bot_id"] == owner[e["symbols"][0]] for e in signals)
    bots = json.loads(tape_bots_path(folder / TAPE_FILE).read_text())
    assert [b["bot_id"] for b in bots] == list(owner.values())
    assert sum(b["allocation"] for b in bots) == pytest.approx(1.0)


def test_scores_split_by_bot_add_up_to_the_runs(run: tuple[Path, Path]) -> None:
    folder, out = run
    scores = write_report(folder, out)
    by_bot = scores_by_bot(folder, out)
    decisions = read_lines(out / DECISIONS_FILE)
    assert {d["bot_id"] for d in decisions} <= {*by_bot}
    assert set(by_bot) >= {"screen-tech", "screen-cyclical"}  # the bots whose signals were deliberated
    assert sum(s["events"].value or 0 for s in by_bot.values()) == scores["events"].value
    assert sum(s["orders"].value or 0 for s in by_bot.values()) == scores["orders"].value
    assert sum(s["vetoes"].value or 0 for s in by_bot.values()) == scores["vetoes"].value
    for bot, own in by_bot.items():
        mine = [d for d in decisions if (d["bot_id"] or "default") == bot]
        assert own["events"].value == len(mine)
    assert "## By bot" in (out / REPORT_FILE).read_text()
    assert set(json.loads((out / BY_BOT_FILE).read_text())) == set(by_bot)
    # The bots were registered: no signal was settled as coming from an unknown bot.
    assert not [d for d in decisions if "is not registered" in d["reason"] and d["event_type"] == "SIGNAL_GENERATED"]
