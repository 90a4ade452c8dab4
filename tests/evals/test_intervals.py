"""Bootstrap intervals: seeded, close to the closed form where one exists, wider when events move together."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals.intervals import bootstrap_interval


def test_the_interval_of_a_share_matches_the_normal_approximation() -> None:
    hits = [1.0] * 72 + [0.0] * 72  # 144 orders at 50 % accuracy: the development set's case
    interval = bootstrap_interval(hits, draws=4000)
    assert interval is not None
    half = 1.959964 * math.sqrt(0.5 * 0.5 / 144)  # about 8.2 points
    assert interval.low == pytest.approx(0.5 - half, abs=0.01)
    assert interval.high == pytest.approx(0.5 + half, abs=0.01)


def test_the_same_inputs_give_the_same_interval_and_another_seed_another() -> None:
    values = list(np.random.default_rng(1).normal(0.001, 0.02, 200))
    assert bootstrap_interval(values) == bootstrap_interval(values)
    assert bootstrap_interval(values, seed=7) != bootstrap_interval(values)


def test_day_blocks_widen_the_interval_when_a_days_events_move_together() -> None:
    rng = np.random.default_rng(3)
    days = np.repeat(np.arange(40), 5)  # 40 days, 5 events each, sharing the day's move
    values = rng.normal(0.0, 0.02, 40)[days] + rng.normal(0.0, 0.002, 200)
    by_event = bootstrap_interval(list(values))
    by_day = bootstrap_interval(list(values), blocks=list(days))
    assert by_event is not None and by_day is not None
    assert (by_day.high - by_day.low) > 1.8 * (by_event.high - by_event.low)


def test_too_few_events_give_no_interval_and_bad_arguments_are_refused() -> None:
    assert bootstrap_interval([]) is None
    assert bootstrap_interval([1.0]) is None
    assert bootstrap_interval([1.0, 0.0], blocks=["d1", "d1"]) is None
    with pytest.raises(ValueError, match="block labels"):
        bootstrap_interval([1.0, 0.0], blocks=["d1"])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0, 0.0], level=1.0)
