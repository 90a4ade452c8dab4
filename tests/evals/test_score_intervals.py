"""Every score over events carries its 95 % intervals, and the no-edge control comes with every run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.report import SCORES_FILE, write_report
from evals.scores import score_run
from tests.evals.conftest import TINY_OUTCOMES, write_tiny_run

WITH_INTERVALS = ("directional_accuracy", "veto_hit_rate", "execution_success", "pnl", "sharpe", "max_drawdown",
                  "prescreen_share")  # fmt: skip


def test_the_gate_runs_scores_carry_intervals_that_contain_them(gate_set: Path, gate_run: Path) -> None:
    scores, _ = score_run(gate_set, gate_run)
    for name in WITH_INTERVALS:
        score = scores[name]
        if score.value is None:
            continue
        for interval in (score.interval, score.day_interval):
            assert interval is not None, name
            assert interval.level == 0.95 and interval.draws == 2000
            assert interval.low - 1e-12 <= score.value <= interval.high + 1e-12, name
        assert score.interval is not None and score.day_interval is not None
    accuracy = scores["directional_accuracy"]
    assert accuracy.interval is not None and accuracy.interval.high - accuracy.interval.low > 0.0


def test_the_intervals_are_seeded(gate_set: Path, gate_run: Path) -> None:
    first, _ = score_run(gate_set, gate_run)
    again, _ = score_run(gate_set, gate_run)
    assert {n: first[n].interval for n in WITH_INTERVALS} == {n: again[n].interval for n in WITH_INTERVALS}


def test_the_control_is_in_scores_json_and_reproducible(gate_set: Path, gate_run: Path) -> None:
    write_report(gate_set, gate_run)
    first = json.loads((gate_run / SCORES_FILE).read_text())
    write_report(gate_set, gate_run)
    again = json.loads((gate_run / SCORES_FILE).read_text())
    keys = ("control_pnl", "control_directional_accuracy", "pnl_vs_control_p", "directional_accuracy_vs_control_p",
            "avg_exposure", "exposure_matched_benchmark_pnl", "benchmark_pnl")  # fmt: skip
    for key in keys:
        assert first[key] == again[key], key
    band = first["control_pnl"]["interval"]
    assert band["draws"] == 1000 and band["low"] < first["control_pnl"]["value"] < band["high"]
    assert 0.0 <= first["pnl_vs_control_p"]["value"] <= 1.0
    accuracy = first["control_directional_accuracy"]
    assert accuracy["value"] == pytest.approx(0.5, abs=0.1)  # random directions: chance
    assert 0.0 < first["avg_exposure"]["value"] < 0.5  # a few 2.5 % stakes, never the whole capital


def test_a_run_without_trades_has_a_control_without_accuracy(tiny_set: Path) -> None:
    idle = write_tiny_run(tiny_set.parent / "idle", {e: "hold" for e in TINY_OUTCOMES})
    scores, _ = score_run(tiny_set, idle)
    assert scores["orders"].value == 0
    assert scores["control_pnl"].value == 0.0
    assert scores["control_directional_accuracy"].value is None
    assert scores["directional_accuracy"].interval is None
    assert scores["avg_exposure"].value == 0.0 and scores["exposure_matched_benchmark_pnl"].value == 0.0
