"""The regression gate: it passes on the committed baseline and fails on a degraded run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evals.gate import TOLERANCES, baseline_of, check_gate, load_baseline
from evals.scores import score_run


def test_the_gate_set_meets_the_committed_baseline(gate_set: Path, gate_run: Path) -> None:
    scores, _ = score_run(gate_set, gate_run)
    assert check_gate(scores, load_baseline()) == []


def test_the_committed_baseline_states_a_tolerance_for_every_gated_score() -> None:
    baseline = load_baseline()
    assert baseline["tolerances"] == TOLERANCES
    assert set(baseline["scores"]) == set(TOLERANCES)


def test_the_gate_fails_when_a_score_drops_past_its_tolerance(gate_set: Path, gate_run: Path) -> None:
    scores, _ = score_run(gate_set, gate_run)
    baseline = baseline_of(scores)
    accuracy = scores["directional_accuracy"]
    assert accuracy.value is not None
    within = {**scores, "directional_accuracy": replace(accuracy, value=accuracy.value - 0.04)}
    assert check_gate(within, baseline) == []
    degraded = {**scores, "directional_accuracy": replace(accuracy, value=accuracy.value - 0.06)}
    assert [f.score for f in check_gate(degraded, baseline)] == ["directional_accuracy"]


def test_more_llm_calls_per_decision_fail_the_gate(gate_set: Path, gate_run: Path) -> None:
    scores, _ = score_run(gate_set, gate_run)
    baseline = baseline_of(scores)
    calls = scores["llm_calls_per_decision"]
    degraded = {**scores, "llm_calls_per_decision": replace(calls, value=(calls.value or 0.0) + 1.0)}
    assert [f.score for f in check_gate(degraded, baseline)] == ["llm_calls_per_decision"]


def test_a_missing_score_fails_the_gate(gate_set: Path, gate_run: Path) -> None:
    scores, _ = score_run(gate_set, gate_run)
    baseline = baseline_of(scores)
    sharpe = scores["sharpe"]
    assert [f.score for f in check_gate({**scores, "sharpe": replace(sharpe, value=None)}, baseline)] == ["sharpe"]
