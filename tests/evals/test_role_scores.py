"""Scores per role: worked by hand on a six-event run, then on the gate run and on lines of an older run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evals.intervals import bootstrap_interval
from evals.report import REPORT_FILE, write_report
from evals.role_report import RELIABILITY_CHART, ROLE_SCORES_FILE, role_section
from evals.role_scores import RoleScores, role_scores
from evals.runner import DECISIONS_FILE, RUN_FILE, TIMINGS_FILE

D1, D2, D3 = "2020-01-02", "2020-01-03", "2020-01-06"


def _label(
    symbol: str | None, day: str, forward: float, barrier: str | None, exit_return: float | None
) -> dict[str, Any]:
    return {"symbol": symbol, "day": day, "forward_return": forward, "barrier": barrier, "exit_return": exit_return}


LABELS = {
    "a1": _label("A", D1, 0.04, "target", 0.03),
    "a2": _label("A", D1, -0.02, "stop", -0.015),
    "a3": _label("B", D2, -0.03, "stop", -0.015),
    "a4": _label("B", D2, 0.005, "timeout", 0.005),
    "a5": _label("C", D3, 0.01, "timeout", 0.01),
    "v1": _label(None, D3, -0.01, None, None),  # a VIX regime: market-wide, no long to score
}


def _view(direction: str, confidence: float) -> dict[str, Any]:
    return {"direction": direction, "confidence": confidence, "thesis": "t", "evidence": ["e"]}


APPROVE = {"verdict": "approve", "reasons": ["ok"], "violated_checks": []}
VETO = {"verdict": "veto", "reasons": ["no"], "violated_checks": ["no_anomaly"]}
CLIPS = [
    {"field": "size_pct", "before": "5", "after": "2.5", "rule": "posture.entry_size"},
    {"field": "order_type", "before": "market", "after": "limit @ 10", "rule": "posture.limit_order_share"},
]
DECISIONS: list[dict[str, Any]] = [
    {"event_id": "a1", "outcome": "ordered", "analysis": _view("long", 0.8), "verdict": APPROVE,
     "command": {"action": "buy", "size_pct": 2.5}, "guard_changes": CLIPS},
    {"event_id": "a2", "outcome": "ordered", "analysis": _view("long", 0.6), "verdict": APPROVE,
     "command": {"action": "buy", "size_pct": 1.0}, "guard_changes": []},
    {"event_id": "a3", "outcome": "vetoed", "analysis": _view("short", 0.9), "verdict": VETO, "command": None},
    {"event_id": "a4", "outcome": "vetoed", "analysis": _view("flat", 0.5), "verdict": VETO, "command": None},
    {"event_id": "a5", "outcome": "screened_out", "analysis": None, "verdict": None, "command": None},
    {"event_id": "v1", "outcome": "applied", "analysis": None, "verdict": None, "command": None},
]  # fmt: skip


@pytest.fixture
def scores() -> RoleScores:
    return role_scores(DECISIONS, LABELS)


def test_the_brier_score_is_the_mean_squared_gap_between_confidence_and_outcome(scores: RoleScores) -> None:
    # a1 long 0.8 rose (0.2^2), a2 long 0.6 fell (0.6^2), a3 short 0.9 fell (0.1^2); the flat view is not scored
    assert scores.analyst.brier.value == pytest.approx((0.04 + 0.36 + 0.01) / 3)
    assert scores.analyst.brier.count == 3


def test_the_reliability_curve_bins_confidence_by_tenths(scores: RoleScores) -> None:
    bins = [(b.low, b.count, b.mean_confidence, b.hit_share.value) for b in scores.analyst.reliability]
    assert bins == [(0.6, 1, 0.6, 0.0), (0.8, 1, 0.8, 1.0), (0.9, 1, 0.9, 1.0)]


def test_accuracy_by_direction_judges_a_flat_view_by_the_stop_band(scores: RoleScores) -> None:
    accuracy = {name: (e.value, e.count) for name, e in scores.analyst.accuracy.items()}
    assert accuracy == {"long": (0.5, 2), "short": (1.0, 1), "flat": (1.0, 1)}
    narrow = role_scores(DECISIONS, LABELS, flat_band=0.001)  # +0.5 % is a move past a 0.1 % band
    assert narrow.analyst.accuracy["flat"].value == 0.0


def test_veto_precision_recall_and_what_the_vetoes_saved(scores: RoleScores) -> None:
    v = scores.validator
    assert (v.vetoes, v.precision.value, v.precision.count) == (2, 0.5, 2)  # a3 lost, a4 did not
    assert (v.recall.value, v.recall.count) == (0.5, 2)  # losers a2 (approved) and a3 (vetoed)
    assert v.losses_avoided == pytest.approx(0.025 * 0.015)
    assert v.gains_forgone == pytest.approx(0.025 * 0.005)
    assert v.net_saved.value == pytest.approx(0.025 * (0.015 - 0.005))


def test_commander_sizing_against_the_exit_return_and_the_guards_clips(scores: RoleScores) -> None:
    c = scores.commander
    assert (c.buys, c.holds, c.sells, c.guarded) == (2, 0, 0, 2)
    assert c.size_return_correlation.value == pytest.approx(1.0)  # the bigger buy made the better return
    assert c.size_return_correlation.interval is None  # both buys on one day: one block, nothing to resample
    buckets = [(b.low_pct, b.mean_exit_return.value) for b in c.size_buckets]
    assert buckets == [(1.0, -0.015), (2.0, 0.03)]
    assert (c.clipped.value, c.clipped.count) == (0.5, 2)
    clips = {clip.field: (clip.count, clip.mean, clip.max) for clip in c.clips}
    assert clips == {"order_type": (1, None, None), "size_pct": (1, 0.5, 0.5)}


def test_the_pre_screen_counts_the_winners_it_settled(scores: RoleScores) -> None:
    p = scores.pre_screen
    assert (p.screened_out, p.tradeable, p.untradeable) == (1, 1, 0)
    assert p.winners.value == 1.0
    assert p.winners_pnl == pytest.approx(0.025 * 0.01)


def test_every_event_is_counted_where_a_role_did_not_reach_it(scores: RoleScores) -> None:
    assert scores.events == 6
    assert (scores.analyst.reached, scores.analyst.not_reached) == (4, 2)
    assert (scores.validator.reached, scores.validator.not_reached) == (4, 2)
    assert (scores.commander.reached, scores.commander.not_reached) == (2, 4)
    assert scores.outcomes == {"applied": 1, "ordered": 2, "screened_out": 1, "vetoed": 2}
    vix_screened = role_scores([{"event_id": "v1", "outcome": "screened_out"}], LABELS)
    assert (vix_screened.pre_screen.untradeable, vix_screened.pre_screen.winners.value) == (1, None)


def test_lines_of_an_older_run_without_role_fields_read_n_a() -> None:
    older = [{"event_id": e, "outcome": "ordered"} for e in ("a1", "a2", "a3")]
    scores = role_scores(older, LABELS)
    assert not (scores.analyst.recorded or scores.validator.recorded or scores.commander.recorded)
    assert scores.analyst.brier.value is None and scores.validator.precision.value is None
    assert scores.commander.size_return_correlation.value is None
    text = role_section(scores)
    assert "| analyst | n/a (not recorded in this run) | n/a | n/a |" in text
    assert "| veto precision: vetoes that would have lost | n/a | n/a | 0 |" in text


def test_intervals_are_the_day_block_bootstrap_of_the_shares() -> None:
    rng = np.random.default_rng(7)
    labels = {
        f"e{i}": _label("A", f"2020-02-{1 + i // 3:02d}", float(rng.normal(0, 0.02)), "timeout", 0.0) for i in range(60)
    }
    lines = [{"event_id": e, "outcome": "screened_out"} for e in labels]
    winners = role_scores(lines, labels).pre_screen.winners
    flags = [1.0 if label["forward_return"] > 0 else 0.0 for label in labels.values()]
    assert winners.interval == bootstrap_interval(flags, blocks=[label["day"] for label in labels.values()])
    assert winners.interval is not None and winners.interval.low < (winners.value or 0) < winners.interval.high


def test_the_report_has_a_per_role_section_its_json_and_the_reliability_chart(
    gate_set: Path, gate_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for name in (DECISIONS_FILE, TIMINGS_FILE, RUN_FILE):
        shutil.copy(gate_run / name, run / name)
    write_report(gate_set, run)
    saved = json.loads((run / ROLE_SCORES_FILE).read_text())
    assert saved["validator"]["vetoes"] > 0 and 0 < saved["validator"]["precision"]["value"] < 1
    assert saved["analyst"]["reliability"] and saved["analyst"]["brier"]["interval"] is not None
    assert (run / RELIABILITY_CHART).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (run / REPORT_FILE).read_text()
    for heading in ("## Per role", "### Analyst", "### Validator", "### Commander", "### Pre-screen"):
        assert heading in markdown
    assert f"![{RELIABILITY_CHART}]({RELIABILITY_CHART})" in markdown


def test_the_report_of_a_run_without_role_fields_still_writes(tiny_set: Path, tiny_run: Path) -> None:
    write_report(tiny_set, tiny_run)
    assert "n/a (not recorded in this run)" in (tiny_run / REPORT_FILE).read_text()
    assert json.loads((tiny_run / ROLE_SCORES_FILE).read_text())["analyst"]["recorded"] is False
