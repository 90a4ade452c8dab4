"""The runner replays a set through the real graph; runs of the same inputs give identical decision files,
whatever the concurrency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.pipeline import tape_lines, tape_steps
from evals.runner import DECISIONS_FILE, RUN_FILE, TIMINGS_FILE, RunOptions, count_events, run_set
from evals.sets import TAPE_FILE, read_labels


def test_every_event_gets_one_decision_line(gate_set: Path, gate_run: Path) -> None:
    lines = [json.loads(line) for line in (gate_run / DECISIONS_FILE).read_text().splitlines()]
    assert [line["event_id"] for line in lines] == [
        json.loads(line)["id"] for line in (gate_set / TAPE_FILE).read_text().splitlines() if "MARKET_TICK" not in line
    ]
    assert len(lines) == count_events(gate_set / TAPE_FILE) == len(read_labels(gate_set))
    assert {line["outcome"] for line in lines} >= {"ordered", "screened_out"}
    assert all("latency" not in json.dumps(line) for line in lines)
    timings = [json.loads(line) for line in (gate_run / TIMINGS_FILE).read_text().splitlines()]
    assert len(timings) == len(lines) and all(t["total_ms"] > 0 for t in timings)


def test_two_runs_give_byte_identical_decision_files(gate_set: Path, gate_run: Path, tmp_path: Path) -> None:
    run_set(gate_set, tmp_path / "again", RunOptions(progress=False, concurrency=4))
    assert json.loads((gate_run / RUN_FILE).read_text())["concurrency"] == 4
    assert (tmp_path / "again" / DECISIONS_FILE).read_bytes() == (gate_run / DECISIONS_FILE).read_bytes()


def test_the_gate_set_has_waves_larger_than_one_session(gate_set: Path) -> None:
    steps = tape_steps(tape_lines((gate_set / TAPE_FILE).read_text(), TAPE_FILE))
    assert max(len(step) for step in steps if isinstance(step, list)) >= 3  # so the next test means something


@pytest.mark.parametrize("concurrency", [1, 2])
def test_the_decision_file_does_not_depend_on_the_concurrency(
    gate_set: Path, gate_run: Path, tmp_path: Path, concurrency: int
) -> None:
    run_set(gate_set, tmp_path / "run", RunOptions(progress=False, concurrency=concurrency))
    assert (tmp_path / "run" / DECISIONS_FILE).read_bytes() == (gate_run / DECISIONS_FILE).read_bytes()
