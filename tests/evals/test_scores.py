"""The scores on a hand-made tiny set whose every number can be checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.controls import STAKE
from evals.scores import score_run


def test_the_scores_of_the_tiny_set(tiny_set: Path, tiny_run: Path) -> None:
    scores, curves = score_run(tiny_set, tiny_run)
    value = {name: score.value for name, score in scores.items()}
    assert value["events"] == 6 and value["orders"] == 2
    assert value["directional_accuracy"] == 0.5  # e1 rose, e2 fell
    assert value["veto_hit_rate"] == 0.5  # e3 would have lost, e4 would have won
    assert value["execution_success"] == pytest.approx(2 / 3)  # e6 was blocked by the guard
    assert value["prescreen_share"] == pytest.approx(1 / 6)
    assert value["pnl"] == pytest.approx(STAKE * (0.03 - 0.015))
    assert curves.strategy[1] == pytest.approx(1 + STAKE * 0.03)  # e1 exits on the second day
    assert value["benchmark_pnl"] == pytest.approx(0.2)
    assert value["max_drawdown"] == pytest.approx((1 + STAKE * 0.015) / (1 + STAKE * 0.03) - 1)
    assert value["llm_calls_per_decision"] == 0.5
    assert value["tokens_per_decision"] == 25
    assert value["cost_per_decision_usd"] == pytest.approx(0.002)
    assert value["latency_total_p50_ms"] == pytest.approx(35.0)
    assert value["latency_analyst_p99_ms"] == pytest.approx(5.95)


def test_targets_are_judged(tiny_set: Path, tiny_run: Path) -> None:
    scores, _ = score_run(tiny_set, tiny_run)
    assert scores["directional_accuracy"].target == 0.65 and scores["directional_accuracy"].met is False
    assert scores["veto_hit_rate"].met is False
    assert scores["execution_success"].met is False
    assert scores["pnl"].met is None
