"""The regression gate: a small, fast set run in CI against a committed baseline of scores.

The gate set is `evals.sets.GATE` (3 symbols, 2014, about 100 events; a few seconds with the `rules`
provider). `evals/baseline.json` holds its scores and, per gated score, the tolerance: how far the score
may move in its bad direction (down for most, up for `llm_calls_per_decision`) before the gate fails.
Wall-clock latencies are not gated: CI machines vary too much for them to mean anything here.

    python -m evals gate                    # exit 1 when a score drops past its tolerance
    python -m evals gate --update-baseline  # after a change judged good, commit the new baseline
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.runner import RunOptions, run_set
from evals.scores import Score, score_run
from evals.sets import GATE, build_set

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


def gate_scores(work: Path) -> dict[str, Score]:
    """Build the gate set, run it with the `rules` provider and score it, all inside `work`."""
    folder = build_set(GATE, work / "sets")
    run = work / "run"
    run_set(folder, run, RunOptions(progress=False))
    scores, _ = score_run(folder, run)
    return scores


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
