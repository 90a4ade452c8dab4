"""Specification of the provider failure tiers: NORMAL below 30 s of continuous failure, REDUCING from 30 s,
SAFE_MODE from 5 minutes; a success ends the run."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.tiers import ProviderHealth, ProviderThresholds, ProviderTier, provider_tier

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


FAILING_AT_T0 = ProviderHealth().observe(False, at(0))


def test_the_defaults_are_30_seconds_and_5_minutes() -> None:
    assert ProviderThresholds() == ProviderThresholds(reducing_from_s=30.0, safe_mode_from_s=300.0)


@pytest.mark.parametrize(
    ("seconds", "tier"),
    [
        (0.0, ProviderTier.NORMAL),
        (29.999, ProviderTier.NORMAL),
        (30.0, ProviderTier.REDUCING),  # "from 30 s": the boundary belongs to REDUCING
        (30.001, ProviderTier.REDUCING),
        (299.999, ProviderTier.REDUCING),
        (300.0, ProviderTier.SAFE_MODE),  # "from 5 min"
        (300.001, ProviderTier.SAFE_MODE),
        (86_400.0, ProviderTier.SAFE_MODE),
    ],
)
def test_the_tier_follows_the_duration_of_continuous_failure(seconds: float, tier: ProviderTier) -> None:
    assert FAILING_AT_T0.tier(at(seconds)) is tier
    assert provider_tier(seconds) is tier


def test_a_provider_that_never_failed_is_normal() -> None:
    assert ProviderHealth().tier(at(10_000)) is ProviderTier.NORMAL
    assert ProviderHealth().failing_for_s(at(10_000)) == 0.0


def test_the_run_is_measured_from_its_first_failure_not_its_latest() -> None:
    health = FAILING_AT_T0.observe(False, at(20)).observe(False, at(29))
    assert health.failing_since == at(0)
    assert health.failing_for_s(at(30)) == 30.0
    assert health.tier(at(30)) is ProviderTier.REDUCING


def test_a_success_ends_the_run_and_the_next_failure_starts_a_new_one() -> None:
    health = FAILING_AT_T0.observe(False, at(25)).observe(True, at(26)).observe(False, at(27))
    assert health.failing_since == at(27)
    assert health.tier(at(56.999)) is ProviderTier.NORMAL
    assert health.tier(at(57)) is ProviderTier.REDUCING


def test_a_success_returns_normal_even_from_safe_mode() -> None:
    assert FAILING_AT_T0.tier(at(400)) is ProviderTier.SAFE_MODE
    assert FAILING_AT_T0.observe(True, at(400)).tier(at(400)) is ProviderTier.NORMAL


def test_observing_returns_a_new_value_and_leaves_the_old_one_alone() -> None:
    healthy = ProviderHealth()
    failing = healthy.observe(False, at(0))
    assert healthy.failing_since is None
    assert failing == ProviderHealth(failing_since=at(0))


def test_a_now_before_the_first_failure_counts_as_no_failure_yet() -> None:
    assert FAILING_AT_T0.failing_for_s(at(-5)) == 0.0
    assert FAILING_AT_T0.tier(at(-5)) is ProviderTier.NORMAL


def test_timezones_are_compared_as_instants() -> None:
    plus_two = datetime(2026, 3, 2, 16, 30, 30, tzinfo=timezone(timedelta(hours=2)))  # 14:30:30 UTC
    assert FAILING_AT_T0.tier(plus_two) is ProviderTier.REDUCING


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 14, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        ProviderHealth().observe(False, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        FAILING_AT_T0.tier(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        ProviderHealth(failing_since=naive)


def test_custom_thresholds_move_the_boundaries() -> None:
    thresholds = ProviderThresholds(reducing_from_s=5.0, safe_mode_from_s=5.0)
    assert FAILING_AT_T0.tier(at(4.999), thresholds) is ProviderTier.NORMAL
    assert FAILING_AT_T0.tier(at(5), thresholds) is ProviderTier.SAFE_MODE


def test_a_duration_that_is_not_a_number_fails_closed() -> None:
    assert provider_tier(math.nan) is ProviderTier.SAFE_MODE


@pytest.mark.parametrize(
    "values",
    [
        {"reducing_from_s": math.nan},
        {"reducing_from_s": math.inf},
        {"reducing_from_s": -1.0},
        {"reducing_from_s": 0.0},
        {"safe_mode_from_s": math.inf},
        {"reducing_from_s": 301.0},  # misordered
    ],
)
def test_thresholds_that_make_no_sense_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"reducing_from_s|safe_mode_from_s"):
        ProviderThresholds(**values)


def test_tiers_are_ordered_by_severity() -> None:
    assert [tier.level for tier in ProviderTier] == [0, 1, 2]


offsets = st.lists(st.floats(min_value=0.0, max_value=1_000.0), min_size=1, max_size=30).map(sorted)


@given(offsets)
def test_the_tier_never_decreases_while_failures_continue(failure_offsets: list[float]) -> None:
    health = ProviderHealth()
    levels = []
    for offset in failure_offsets:
        health = health.observe(False, at(offset))
        levels.append(health.tier(at(offset)).level)
    assert levels == sorted(levels)


@given(offsets, st.floats(min_value=-100.0, max_value=10_000.0), st.floats(min_value=-100.0, max_value=10_000.0))
def test_a_success_always_returns_normal(history: list[float], success_at: float, now: float) -> None:
    health = ProviderHealth()
    for offset in history:
        health = health.observe(False, at(offset))
    assert health.observe(True, at(success_at)).tier(at(now)) is ProviderTier.NORMAL


@given(st.floats(min_value=-100.0, max_value=10_000.0), st.floats(min_value=0.0, max_value=10_000.0))
def test_the_tier_only_grows_as_time_passes_without_a_success(now: float, later_by: float) -> None:
    assert FAILING_AT_T0.tier(at(now)).level <= FAILING_AT_T0.tier(at(now + later_by)).level
