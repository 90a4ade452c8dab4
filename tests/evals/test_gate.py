"""The regression gate: it passes on the committed baseline, every gated score can fall, and it fails on a
degraded run (a score moved by hand, or a worse decision stream written from the gate run)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from evals.gate import BOUNDS, TOLERANCES, baseline_of, check_gate, gated_scores, load_baseline, room_to_fall
from evals.runner import DECISIONS_FILE, RUN_FILE, TIMINGS_FILE, read_lines
from evals.scores import would_have_lost
from evals.sets import read_labels


def test_the_gate_set_meets_the_committed_baseline(gate_set: Path, gate_run: Path) -> None:
    scores = gated_scores(gate_set, gate_run)
    assert check_gate(scores, load_baseline()) == []


def test_the_committed_baseline_states_a_tolerance_for_every_gated_score() -> None:
    baseline = load_baseline()
    assert baseline["tolerances"] == TOLERANCES
    assert set(baseline["scores"]) == set(TOLERANCES)


def test_the_gate_fails_when_a_score_drops_past_its_tolerance(gate_set: Path, gate_run: Path) -> None:
    scores = gated_scores(gate_set, gate_run)
    baseline = baseline_of(scores)
    accuracy = scores["directional_accuracy"]
    assert accuracy.value is not None
    within = {**scores, "directional_accuracy": replace(accuracy, value=accuracy.value - 0.04)}
    assert check_gate(within, baseline) == []
    degraded = {**scores, "directional_accuracy": replace(accuracy, value=accuracy.value - 0.06)}
    assert [f.score for f in check_gate(degraded, baseline)] == ["directional_accuracy"]


def test_more_llm_calls_per_decision_fail_the_gate(gate_set: Path, gate_run: Path) -> None:
    scores = gated_scores(gate_set, gate_run)
    baseline = baseline_of(scores)
    calls = scores["llm_calls_per_decision"]
    degraded = {**scores, "llm_calls_per_decision": replace(calls, value=(calls.value or 0.0) + 1.0)}
    assert [f.score for f in check_gate(degraded, baseline)] == ["llm_calls_per_decision"]


def test_a_missing_score_fails_the_gate(gate_set: Path, gate_run: Path) -> None:
    scores = gated_scores(gate_set, gate_run)
    baseline = baseline_of(scores)
    sharpe = scores["sharpe"]
    assert [f.score for f in check_gate({**scores, "sharpe": replace(sharpe, value=None)}, baseline)] == ["sharpe"]


# At their good bound by construction with the rules provider and the paper broker, and still able to fall.
AT_GOOD_BOUND = {"execution_success", "llm_calls_per_decision"}


def test_every_gated_score_has_bounds() -> None:
    assert set(BOUNDS) == set(TOLERANCES)


def test_every_gated_score_of_the_committed_baseline_can_fall_past_its_tolerance() -> None:
    baseline = load_baseline()
    for name, tolerance in baseline["tolerances"].items():
        value = baseline["scores"][name]
        assert value is not None, name
        assert room_to_fall(name, value) > tolerance, f"{name} = {value} cannot fall by {tolerance}"
        bad, good = BOUNDS[name]
        assert value != bad, name
        if name not in AT_GOOD_BOUND:
            assert value != good, f"{name} = {value} sits at its good bound: it measures nothing here"


def test_room_to_fall_runs_towards_the_bad_bound() -> None:
    assert room_to_fall("veto_hit_rate", 0.0) == 0.0
    assert room_to_fall("veto_hit_rate", 0.7) == 0.7
    assert room_to_fall("analyst_brier", 0.25) == 0.75
    assert room_to_fall("max_drawdown", -0.25) == 0.75
    assert room_to_fall("llm_calls_per_decision", 0.0) == float("inf")


def _rewritten_run(run: Path, out: Path, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
    out.mkdir()
    for name in (TIMINGS_FILE, RUN_FILE):
        shutil.copy(run / name, out / name)
    lines = [rewrite(d) for d in read_lines(run / DECISIONS_FILE)]
    (out / DECISIONS_FILE).write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in lines))
    return out


def test_a_validator_that_vetoes_the_winners_fails_the_gate(gate_set: Path, gate_run: Path, tmp_path: Path) -> None:
    labels = read_labels(gate_set)

    def flipped(d: dict[str, Any]) -> dict[str, Any]:
        label = labels.get(d["event_id"])
        if not isinstance(d.get("verdict"), dict) or label is None or label["symbol"] is None:
            return d
        if would_have_lost(label):  # approve every loser: it is left to the analyst, who holds
            return {**d, "outcome": "hold" if d["outcome"] == "vetoed" else d["outcome"],
                    "verdict": {**d["verdict"], "verdict": "approve", "violated_checks": []}}  # fmt: skip
        return {**d, "outcome": "vetoed", "order": None, "verdict": {**d["verdict"], "verdict": "veto",
                "violated_checks": ["flipped"]}}  # fmt: skip

    worse = _rewritten_run(gate_run, tmp_path / "flipped", flipped)
    failed = {f.score for f in check_gate(gated_scores(gate_set, worse), load_baseline())}
    assert {"veto_hit_rate", "veto_recall"} <= failed


def test_an_overconfident_analyst_fails_the_gate(gate_set: Path, gate_run: Path, tmp_path: Path) -> None:
    def overconfident(d: dict[str, Any]) -> dict[str, Any]:
        analysis = d.get("analysis")
        if isinstance(analysis, dict) and analysis.get("direction") in ("long", "short"):
            return {**d, "analysis": {**analysis, "confidence": 0.99}}
        return d

    worse = _rewritten_run(gate_run, tmp_path / "overconfident", overconfident)
    assert [f.score for f in check_gate(gated_scores(gate_set, worse), load_baseline())] == ["analyst_brier"]
