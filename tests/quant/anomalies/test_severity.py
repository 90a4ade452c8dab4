"""The shared vocabulary: severities are ordered, ladders grade magnitudes, findings carry their evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.anomalies import Evidence, Finding, Ladder, Rule, RuleScan, Severity


def test_severities_are_ordered_from_low_to_critical() -> None:
    assert Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL
    assert max(Severity.MEDIUM, Severity.CRITICAL) is Severity.CRITICAL


LADDER = Ladder(Severity.MEDIUM, ((40.0, Severity.HIGH), (100.0, Severity.CRITICAL)))


def test_a_ladder_gives_the_base_at_the_threshold_and_the_highest_step_reached() -> None:
    magnitude = np.array([21.0, 39.0, 40.0, 99.0, 100.0, 500.0])
    levels = LADDER.grade(magnitude, np.ones(6, dtype=bool), strict=False).tolist()
    assert levels == [
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.HIGH,
        Severity.CRITICAL,
        Severity.CRITICAL,
    ]


def test_a_strict_ladder_needs_the_magnitude_above_a_step() -> None:
    levels = LADDER.grade(np.array([40.0, 40.5, 100.0]), np.ones(3, dtype=bool), strict=True).tolist()
    assert levels == [Severity.MEDIUM, Severity.HIGH, Severity.HIGH]


def test_cells_that_did_not_fire_stay_at_level_zero_whatever_their_magnitude() -> None:
    levels = LADDER.grade(np.array([500.0, math.nan]), np.array([False, False]), strict=False)
    assert levels.tolist() == [0, 0]


@pytest.mark.parametrize(
    "steps",
    [
        ((100.0, Severity.HIGH), (40.0, Severity.CRITICAL)),  # levels not ascending
        ((40.0, Severity.CRITICAL), (100.0, Severity.HIGH)),  # severity falls
        ((40.0, Severity.MEDIUM),),  # no higher than the base
        ((math.inf, Severity.HIGH),),
    ],
)
def test_a_ladder_that_does_not_climb_is_refused(steps: tuple[tuple[float, Severity], ...]) -> None:
    with pytest.raises(ValueError, match="ladder"):
        Ladder(Severity.MEDIUM, steps)


def test_a_rule_scan_turns_fired_cells_into_findings_in_time_then_subject_order() -> None:
    scan = RuleScan(
        rule=Rule.PRICE_MOVE,
        subjects=("AAA", "BBB"),
        at_s=np.array([60.0, 120.0]),
        level=np.array([[0, 3], [4, 0]], dtype=np.int8),
        value=np.array([[1.0, -6.0], [12.0, 0.5]]),
        basis=np.array([[10.0, 20.0], [11.0, 21.0]]),
        threshold=5.0,
        strict=False,
        on_magnitude=True,
        unit="% close to close",
        window="two bars at most 60 s apart",
        basis_label="previous close",
    )
    assert scan.findings() == [
        Finding(
            Rule.PRICE_MOVE,
            "BBB",
            60.0,
            Severity.HIGH,
            Evidence(
                -6.0, 5.0, "|value| >= 5", "% close to close", "two bars at most 60 s apart", 20.0, "previous close"
            ),
        ),
        Finding(
            Rule.PRICE_MOVE,
            "AAA",
            120.0,
            Severity.CRITICAL,
            Evidence(
                12.0, 5.0, "|value| >= 5", "% close to close", "two bars at most 60 s apart", 11.0, "previous close"
            ),
        ),
    ]
    assert scan.findings()[0].summary == (
        "HIGH market.price_move BBB: -6 % close to close "
        "(fires when |value| >= 5; two bars at most 60 s apart; previous close 20)"
    )
