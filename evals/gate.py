"""The regression gate: a small, fast set run in CI against a committed baseline of scores.

The gate set is `evals.sets.GATE` (12 symbols, 2015-07..2015-12, about 150 events; a few seconds with the
`rules` provider). `evals/baseline.json` holds its scores and, per gated score, the tolerance: how far the
score may move in its bad direction (down for most, up for `llm_calls_per_decision` and `analyst_brier`)
before the gate fails. Besides the run's scores (`evals.scores.score_run`) two role scores are gated
(`evals.role_scores`): the analyst's Brier score and the validator's veto recall. The veto precision is not
gated apart: it is the veto hit rate.

Decisions that must not be silently changed:
- Every gated score must be able to fail: the committed baseline sits further than its tolerance from the
  score's bad bound (`BOUNDS`; a veto hit rate of 0.0 cannot fall). Execution success (1.0) and LLM calls
  per decision (0) sit at their good bound by construction with the `rules` provider and the paper broker;
  they stay gated because a broker failure or a model call in the rules path moves them.
- Wall-clock latencies are not gated: CI machines vary too much for them to mean anything here.

    python -m evals gate                    # exit 1 when a score drops past its tolerance
    python -m evals gate --update-baseline  # after a change judged good, commit the new baseline
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.role_scores import role_scores
from evals.runner import DECISIONS_FILE, RunOptions, read_lines, run_set
from evals.scores import Score, score_run
from evals.sets import GATE, build_set, read_labels

BASELINE_FILE = Path(__file__).with_name("baseline.json")

# Absolute tolerances, in the score's unit; every gated score must be in the baseline.
TOLERANCES: dict[str, float] = {
    "directional_accuracy": 0.05,
    "veto_hit_rate": 0.10,
    "execution_success": 0.005,
    "pnl": 0.005,
    "sharpe": 0.5,
    "max_drawdown": 0.005,
    "llm_calls_per_decision": 0.5,
    "analyst_brier": 0.03,  # about two of the gate set's ~30 long or short views turning out wrong
    "veto_recall": 0.10,
}

# Per gated score, (bad bound, good bound): how far it can go either way; None where it is unbounded.
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "directional_accuracy": (0.0, 1.0),
    "veto_hit_rate": (0.0, 1.0),
    "execution_success": (0.0, 1.0),
    "pnl": (None, None),
    "sharpe": (None, None),
    "max_drawdown": (-1.0, 0.0),
    "llm_calls_per_decision": (None, 0.0),
    "analyst_brier": (1.0, 0.0),
    "veto_recall": (0.0, 1.0),
}


@dataclass(frozen=True, slots=True)
class GateFailure:
    score: str
    baseline: float | None
    value: float | None
    tolerance: float

    def __str__(self) -> str:
        return f"{self.score}: {self.value} vs baseline {self.baseline} (tolerance {self.tolerance})"


def check_gate(scores: dict[str, Score], baseline: dict[str, Any]) -> list[GateFailure]:
    """The gated scores that moved past their tolerance in their bad direction (or vanished)."""
    failures: list[GateFailure] = []
    for name, tolerance in baseline["tolerances"].items():
        expected = baseline["scores"].get(name)
        score = scores.get(name)
        value = score.value if score else None
        if expected is None:
            continue
        if value is None:
            failures.append(GateFailure(name, expected, value, tolerance))
            continue
        higher_is_better = score.higher_is_better if score else True
        drop = expected - value if higher_is_better else value - expected
        if drop > tolerance + 1e-12:
            failures.append(GateFailure(name, expected, value, tolerance))
    return failures


def room_to_fall(name: str, value: float) -> float:
    """How far a gated score can still move in its bad direction before it reaches its bad bound."""
    bad, good = BOUNDS[name]
    if bad is None:
        return float("inf")
    return value - bad if good is None or good > bad else bad - value


def gated_scores(set_folder: Path, run_folder: Path) -> dict[str, Score]:
    """The run's scores (`score_run`) plus the gated role scores: `analyst_brier` and `veto_recall`."""
    scores, _ = score_run(set_folder, run_folder)
    roles = role_scores(read_lines(run_folder / DECISIONS_FILE), read_labels(set_folder))
    return {
        **scores,
        "analyst_brier": Score(roles.analyst.brier.value, "ratio", higher_is_better=False),
        "veto_recall": Score(roles.validator.recall.value, "fraction"),
    }


def gate_scores(work: Path) -> dict[str, Score]:
    """Build the gate set, run it with the `rules` provider and score it, all inside `work`."""
    folder = build_set(GATE, work / "sets")
    run = work / "run"
    run_set(folder, run, RunOptions(progress=False))
    return gated_scores(folder, run)


def baseline_of(scores: dict[str, Score]) -> dict[str, Any]:
    return {
        "set": GATE.name,
        "provider": "rules",
        "scores": {name: scores[name].value for name in TOLERANCES if name in scores},
        "tolerances": TOLERANCES,
    }


def load_baseline(path: Path = BASELINE_FILE) -> dict[str, Any]:
    baseline: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return baseline


def run_gate(update_baseline: bool = False, path: Path = BASELINE_FILE) -> list[GateFailure]:
    """Run the gate; with `update_baseline`, write the scores as the new baseline instead of checking."""
    with tempfile.TemporaryDirectory(prefix="aegis-gate-") as work:
        scores = gate_scores(Path(work))
    if update_baseline:
        path.write_text(json.dumps(baseline_of(scores), sort_keys=True, indent=1) + "\n", encoding="utf-8")
        return []
    return check_gate(scores, load_baseline(path))
