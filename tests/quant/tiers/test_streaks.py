"""Specification of the streak conditions: a stage SLA missed twice in a row, three system errors in a row."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.tiers import (
    StreakThresholds,
    error_streak_reached,
    errors_in_a_row,
    sla_misses_in_a_row,
    stages_missing_sla,
    trailing_run,
)

WARN_S = {"analyst": 3.0, "validator": 2.5}  # the deliberation's default warn budgets, seconds


def test_the_defaults_are_two_misses_and_three_errors() -> None:
    assert StreakThresholds() == StreakThresholds(sla_misses_in_a_row=2, errors_in_a_row=3)


@pytest.mark.parametrize(
    ("latency_s", "missed"),
    [(2.999, False), (3.0, False), (3.001, True)],  # a miss is a latency over the warn threshold, not at it
)
def test_a_stage_misses_its_sla_when_its_latency_is_over_the_warn_threshold(latency_s: float, missed: bool) -> None:
    assert sla_misses_in_a_row([latency_s], warn_s=3.0) == int(missed)
    assert (stages_missing_sla([("analyst", latency_s)] * 2, WARN_S) == ("analyst",)) is missed


@pytest.mark.parametrize(
    ("latencies_s", "holds"),
    [
        ([4.0], False),
        ([4.0, 4.0], True),  # "twice in a row"
        ([4.0, 4.0, 4.0], True),
        ([4.0, 4.0, 1.0], False),  # only the last two count
        ([1.0, 4.0, 4.0], True),
    ],
)
def test_the_condition_holds_when_a_stages_last_two_latencies_missed(latencies_s: list[float], holds: bool) -> None:
    assert bool(stages_missing_sla([("analyst", s) for s in latencies_s], WARN_S)) is holds


def test_each_stage_is_judged_on_its_own_latencies() -> None:
    interleaved = [("analyst", 4.0), ("validator", 1.0), ("analyst", 4.0), ("validator", 2.6)]
    assert stages_missing_sla(interleaved, WARN_S) == ("analyst",)  # the validator in between breaks nothing


def test_stages_come_back_in_the_order_they_first_appear() -> None:
    latencies = [("validator", 3.0), ("analyst", 5.0), ("validator", 3.0), ("analyst", 5.0)]
    assert stages_missing_sla(latencies, WARN_S) == ("validator", "analyst")


@pytest.mark.parametrize("latency_s", [math.nan, math.inf])
def test_a_latency_that_is_not_a_number_is_a_miss(latency_s: float) -> None:
    assert stages_missing_sla([("analyst", latency_s), ("analyst", 4.0)], WARN_S) == ("analyst",)


def test_a_stage_without_a_warn_threshold_has_no_sla_to_miss() -> None:
    assert stages_missing_sla([("rune", 60.0), ("rune", 60.0)], WARN_S) == ()


def test_a_warn_threshold_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="warn_s"):
        stages_missing_sla([("analyst", 1.0)], {"analyst": 0.0})


def test_custom_thresholds_change_the_count() -> None:
    assert stages_missing_sla([("analyst", 4.0)], WARN_S, StreakThresholds(sla_misses_in_a_row=1)) == ("analyst",)
    assert not error_streak_reached([False] * 4, StreakThresholds(errors_in_a_row=5))


@pytest.mark.parametrize(
    ("outcomes_ok", "errors", "reached"),
    [
        ([], 0, False),
        ([False, False], 2, False),
        ([False, False, False], 3, True),  # "three in a row"
        ([True, False, False, False, False], 4, True),
        ([False, False, False, True], 0, False),  # any success ends the streak
        ([False, True, False, False], 2, False),
    ],
)
def test_three_system_errors_in_a_row_hold(outcomes_ok: list[bool], errors: int, reached: bool) -> None:
    assert errors_in_a_row(outcomes_ok) == errors
    assert error_streak_reached(outcomes_ok) is reached


@pytest.mark.parametrize("values", [{"sla_misses_in_a_row": 0}, {"errors_in_a_row": -3}, {"errors_in_a_row": 2.5}])
def test_thresholds_that_make_no_sense_are_refused(values: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(values))):
        StreakThresholds(**values)


@given(st.lists(st.booleans()))
def test_a_true_extends_the_run_and_a_false_ends_it(flags: list[bool]) -> None:
    assert trailing_run([*flags, True]) == trailing_run(flags) + 1
    assert trailing_run([*flags, False]) == 0
    assert 0 <= trailing_run(flags) <= len(flags)


@given(st.lists(st.tuples(st.sampled_from(["analyst", "validator"]), st.floats(0.0, 10.0))))
def test_the_sla_verdict_of_a_stage_ignores_every_other_stage(latencies: list[tuple[str, float]]) -> None:
    analyst_only = [sample for sample in latencies if sample[0] == "analyst"]
    verdict = "analyst" in stages_missing_sla(latencies, WARN_S)
    assert verdict is ("analyst" in stages_missing_sla(analyst_only, WARN_S))
