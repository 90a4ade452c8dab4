"""Specification of the feed disconnect tiers: a heartbeat gap of at most 3 s is nothing, over 3 s continue on
cached data, over 10 s cancel and close, over 30 s halt until reset; a watch remembers an outage's worst tier."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.tiers import FeedOutage, FeedReading, FeedThresholds, FeedTier, FeedWatch, feed_tier

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


CONNECTED = FeedWatch(last_heartbeat_at=at(0))


def beats(*offsets: float) -> FeedWatch:
    """A watch started at 0 s that then saw heartbeats at ``offsets`` seconds."""
    watch = CONNECTED
    for offset in offsets:
        watch = watch.heartbeat(at(offset))
    return watch


def test_the_defaults_are_3_10_and_30_seconds() -> None:
    assert FeedThresholds() == FeedThresholds(cached_over_s=3.0, cancel_over_s=10.0, halt_over_s=30.0)


@pytest.mark.parametrize(
    ("gap_s", "tier"),
    [
        (0.0, FeedTier.NORMAL),
        (2.999, FeedTier.NORMAL),
        (3.0, FeedTier.NORMAL),  # "back within 3 s: nothing"; only over 3 s is cached
        (3.001, FeedTier.CACHED),
        (9.999, FeedTier.CACHED),
        (10.0, FeedTier.CACHED),  # over 10 s, not at 10 s, cancels
        (10.001, FeedTier.CANCEL_AND_CLOSE),
        (29.999, FeedTier.CANCEL_AND_CLOSE),
        (30.0, FeedTier.CANCEL_AND_CLOSE),  # over 30 s, not at 30 s, halts
        (30.001, FeedTier.HALT),
    ],
)
def test_the_tier_follows_the_heartbeat_gap(gap_s: float, tier: FeedTier) -> None:
    assert feed_tier(gap_s) is tier
    assert CONNECTED.tier(at(gap_s)) is tier
    assert CONNECTED.reading(at(gap_s)).gap_s == gap_s


def test_a_gap_that_is_not_a_number_halts() -> None:
    assert feed_tier(math.nan) is FeedTier.HALT


def test_a_feed_back_within_3_seconds_is_no_outage() -> None:
    watch = beats(1, 4, 7)  # gaps of 1, 3, 3 s
    assert watch == FeedWatch(last_heartbeat_at=at(7))
    assert watch.reading(at(7)).outage_worst is FeedTier.NORMAL


def test_while_silent_the_reading_carries_the_open_gap_and_the_cached_datas_age() -> None:
    reading = CONNECTED.reading(at(5), cached_as_of=at(-55))
    assert reading == FeedReading(
        tier=FeedTier.CACHED,
        gap_s=5.0,
        outage_worst=FeedTier.CACHED,
        outage_since=at(0),
        halted=False,
        cached_data_age_s=60.0,
    )
    assert CONNECTED.reading(at(5)).cached_data_age_s is None


def test_a_feed_back_after_15_seconds_reports_that_closing_was_started() -> None:
    back = beats(15)
    assert back.tier(at(15)) is FeedTier.NORMAL  # data flows again
    assert back.reading(at(15)).outage_worst is FeedTier.CANCEL_AND_CLOSE  # but the outage awaits confirmation
    assert back.ended_outage is None

    confirmed = back.heartbeat(at(16))
    assert confirmed.ended_outage == FeedOutage(
        started_at=at(0), back_at=at(15), confirmed_at=at(16), worst=FeedTier.CANCEL_AND_CLOSE
    )
    assert confirmed.ended_outage.silent_s == 15.0
    assert confirmed.outage_since is None
    assert confirmed.outage_worst is FeedTier.NORMAL
    assert confirmed.heartbeat(at(17)).ended_outage is None  # reported once, by the confirming heartbeat


def test_a_flapping_feed_is_one_outage_that_keeps_its_worst_tier() -> None:
    watch = beats(5, 17, 21)  # gaps of 5 s (cached), 12 s (cancel), 4 s (cached)
    assert (watch.outage_since, watch.outage_worst) == (at(0), FeedTier.CANCEL_AND_CLOSE)
    ended = watch.heartbeat(at(22)).ended_outage
    assert ended == FeedOutage(at(0), at(21), at(22), FeedTier.CANCEL_AND_CLOSE)


@pytest.mark.parametrize(("return_s", "worst"), [(3.001, FeedTier.CACHED), (10.0, FeedTier.CACHED)])
def test_a_short_outage_reports_its_own_worst_tier(return_s: float, worst: FeedTier) -> None:
    ended = beats(return_s, return_s + 1).ended_outage
    assert ended is not None
    assert ended.worst is worst


def test_the_worst_tier_does_not_depend_on_anyone_reading_the_watch_during_the_gap() -> None:
    # Nobody looked between 0 s and 45 s: the gap itself reached HALT, so the watch halts.
    watch = beats(45)
    assert watch.halted
    assert watch.outage_worst is FeedTier.HALT


def test_halt_latches_until_a_reset_even_after_the_feed_is_back() -> None:
    confirmed = beats(30.001, 31)
    assert confirmed.ended_outage == FeedOutage(at(0), at(30.001), at(31), FeedTier.HALT)  # the outage is over
    watch = confirmed.heartbeat(at(32))
    assert watch.halted  # the halt is not
    assert watch.tier(at(32)) is FeedTier.HALT
    assert watch.reading(at(32)).gap_s == 0.0

    resumed = watch.reset()
    assert resumed.tier(at(32)) is FeedTier.NORMAL
    assert resumed == FeedWatch(last_heartbeat_at=at(32))


def test_a_gap_of_exactly_30_seconds_does_not_latch() -> None:
    assert not beats(30).halted


def test_a_reset_cannot_excuse_a_gap_still_open() -> None:
    silent = CONNECTED.reset()
    assert silent.tier(at(40)) is FeedTier.HALT  # the open gap still halts
    assert silent.heartbeat(at(41)).halted  # and latches when it closes


def test_a_stale_or_duplicate_heartbeat_is_ignored_and_cannot_confirm_a_return() -> None:
    watch = beats(20)
    assert watch.heartbeat(at(19)) is watch
    assert watch.heartbeat(at(20)) is watch
    assert watch.outage_since == at(0)


def test_a_now_before_the_last_heartbeat_reads_as_no_gap() -> None:
    assert CONNECTED.reading(at(-3)).gap_s == 0.0
    assert CONNECTED.tier(at(-3)) is FeedTier.NORMAL


def test_custom_thresholds_apply_to_heartbeats_and_readings() -> None:
    thresholds = FeedThresholds(cached_over_s=1.0, cancel_over_s=2.0, halt_over_s=2.0)
    assert CONNECTED.tier(at(1.5), thresholds) is FeedTier.CACHED
    assert CONNECTED.tier(at(2.001), thresholds) is FeedTier.HALT
    assert CONNECTED.heartbeat(at(2.001), thresholds).halted


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 14, 30)
    for call in (
        lambda: FeedWatch(last_heartbeat_at=naive),
        lambda: CONNECTED.heartbeat(naive),
        lambda: CONNECTED.reading(naive),
        lambda: CONNECTED.reading(at(1), cached_as_of=naive),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


def test_an_inconsistent_watch_is_refused() -> None:
    with pytest.raises(ValueError, match="open outage"):
        FeedWatch(last_heartbeat_at=at(0), outage_since=at(0))
    with pytest.raises(ValueError, match="open outage"):
        FeedWatch(last_heartbeat_at=at(0), outage_worst=FeedTier.CACHED)
    with pytest.raises(ValueError, match="leaves none open"):
        FeedWatch(
            last_heartbeat_at=at(0),
            outage_since=at(0),
            outage_worst=FeedTier.CACHED,
            ended_outage=FeedOutage(at(0), at(0), at(0), FeedTier.CACHED),
        )


@pytest.mark.parametrize(
    "values",
    [
        {"cached_over_s": math.nan},
        {"cancel_over_s": math.inf},
        {"halt_over_s": -30.0},
        {"cached_over_s": 0.0},
        {"cached_over_s": 11.0},  # misordered
        {"cancel_over_s": 31.0},  # misordered
    ],
)
def test_thresholds_that_make_no_sense_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="_over_s"):
        FeedThresholds(**values)


def test_tiers_are_ordered_by_severity() -> None:
    assert [tier.level for tier in FeedTier] == [0, 1, 2, 3]


# Whole milliseconds, so a gap summed into a datetime is exactly the gap classified on its own.
gaps = st.integers(min_value=0, max_value=100_000).map(lambda ms: ms / 1000)


@given(gaps, gaps)
def test_a_longer_gap_is_never_a_milder_tier(a: float, b: float) -> None:
    shorter, longer = sorted((a, b))
    assert feed_tier(shorter).level <= feed_tier(longer).level


@given(st.lists(st.integers(min_value=3_001, max_value=100_000).map(lambda ms: ms / 1000), min_size=1, max_size=10))
def test_a_confirmed_outage_reports_the_tier_of_its_longest_gap(outage_gaps: list[float]) -> None:
    watch, moment = CONNECTED, at(0)
    for gap in [*outage_gaps, 1.0]:
        moment += timedelta(seconds=gap)
        watch = watch.heartbeat(moment)
    assert watch.ended_outage is not None
    assert watch.ended_outage.worst is feed_tier(max(outage_gaps))
    assert watch.ended_outage.started_at == at(0)
    assert watch.halted is (feed_tier(max(outage_gaps)) is FeedTier.HALT)


@given(st.lists(gaps, max_size=10), gaps)
def test_the_reading_is_never_milder_than_the_open_gap(history: list[float], open_gap: float) -> None:
    watch, moment = CONNECTED, at(0)
    for gap in history:
        moment += timedelta(seconds=gap)
        watch = watch.heartbeat(moment)
    reading = watch.reading(moment + timedelta(seconds=open_gap))
    assert reading.tier.level >= feed_tier(reading.gap_s).level
    assert reading.outage_worst.level >= feed_tier(reading.gap_s).level
