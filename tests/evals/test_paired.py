"""`aegis eval --compare`: whether B - A is larger than the noise, paired over the set's events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.paired import paired_differences
from evals.report import compare_runs
from tests.evals.conftest import TINY_OUTCOMES, write_tiny_run

# 80 events, one a day: even ones rose 2 %, odd ones fell 1 %
LABELS: dict[str, dict[str, Any]] = {
    f"e{i:02d}": {"day": f"d{i:02d}", "forward_return": 0.02 if i % 2 == 0 else -0.01,
                  "exit_return": 0.02 if i % 2 == 0 else -0.01, "barrier": "timeout"}
    for i in range(80)
}  # fmt: skip


def _run(bought: set[str]) -> list[dict[str, object]]:
    return [
        {"event_id": e, "outcome": "ordered", "order": {"side": "buy", "quantity": 1.0}}
        if e in bought
        else {"event_id": e, "outcome": "hold", "order": None}
        for e in LABELS
    ]


def _verdicts(a: set[str], b: set[str]) -> dict[str, str]:
    return {d.score: d.verdict for d in paired_differences(_run(a), _run(b), LABELS)}


def test_a_run_that_buys_only_the_risers_beats_one_that_buys_everything_beyond_the_noise() -> None:
    everything = set(LABELS)
    risers = {e for e, label in LABELS.items() if label["forward_return"] > 0}
    differences = {d.score: d for d in paired_differences(_run(everything), _run(risers), LABELS)}
    accuracy = differences["directional_accuracy"]
    assert accuracy.change == 0.5 and accuracy.verdict == "larger than the noise"
    assert accuracy.interval is not None and accuracy.interval.low > 0.0
    assert differences["pnl"].verdict == "larger than the noise"
    assert differences["prescreen_share"].verdict == "within the noise"  # neither screened anything
    assert differences["veto_hit_rate"].verdict == "too few events"  # neither vetoed anything


def test_one_event_of_difference_is_within_the_noise() -> None:
    everything = set(LABELS)
    verdicts = _verdicts(everything, everything - {"e01"})  # one loser fewer
    assert verdicts["directional_accuracy"] == "within the noise"
    assert verdicts["pnl"] == "within the noise"


def test_the_same_run_twice_differs_by_nothing() -> None:
    differences = paired_differences(_run(set(LABELS)), _run(set(LABELS)), LABELS)
    accuracy = next(d for d in differences if d.score == "directional_accuracy")
    assert accuracy.change == 0.0 and accuracy.verdict == "within the noise"


def test_compare_prints_a_verdict_per_decision_score(tiny_set: Path, tiny_run: Path) -> None:
    run_b = write_tiny_run(tiny_set.parent / "run-b", {**TINY_OUTCOMES, "e2": "vetoed"})
    text = compare_runs(tiny_set, tiny_run, run_b)
    assert "## Against the noise" in text
    # six events: some resamples hold no buy (no accuracy), the verdict says so rather than guess
    assert "| directional_accuracy | +0.5 | n/a | too few events |" in text
    assert "| prescreen_share | +0 | [+0, +0] | within the noise |" in text
