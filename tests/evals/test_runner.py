"""The runner replays a set through the real graph; two runs of the same inputs give identical files."""

from __future__ import annotations

import json
from pathlib import Path

from evals.runner import DECISIONS_FILE, TIMINGS_FILE, RunOptions, count_events, run_set
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
    run_set(gate_set, tmp_path / "again", RunOptions(progress=False))
    assert (tmp_path / "again" / DECISIONS_FILE).read_bytes() == (gate_run / DECISIONS_FILE).read_bytes()
