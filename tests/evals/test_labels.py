"""The labels see only bars strictly after the event: the no-look-ahead guard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.labels import BarsAfter, FutureView, IncompleteFutureError, LookAheadError, label_long


def _series(n: int = 30, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * (1 + rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
    return open_, high, low, close


def test_reading_the_event_bar_or_earlier_raises() -> None:
    view = FutureView(np.arange(10.0), t=4)
    assert view.at(5) == 5.0
    for index in (4, 3, 0, -1):
        with pytest.raises(LookAheadError):
            view.at(index)


def test_an_event_without_a_full_horizon_is_not_labelled() -> None:
    o, h, lo, c = _series(10)
    with pytest.raises(IncompleteFutureError):
        label_long(BarsAfter.of(o, h, lo, c, 7), horizon=5)


@settings(max_examples=40, deadline=None)
@given(t=st.integers(min_value=0, max_value=20), poison=st.sampled_from([np.nan, 0.0, 1e9, -5.0]))
def test_labels_do_not_change_when_the_past_and_present_are_poisoned(t: int, poison: float) -> None:
    o, h, lo, c = _series()
    clean = label_long(BarsAfter.of(o, h, lo, c, t))
    po, ph, plo, pc = (a.copy() for a in (o, h, lo, c))
    for a in (po, ph, plo, pc):
        a[: t + 1] = poison
    assert label_long(BarsAfter.of(po, ph, plo, pc, t)) == clean


def test_labels_change_when_the_future_changes() -> None:
    o, h, lo, c = _series()
    before = label_long(BarsAfter.of(o, h, lo, c, 3))
    crashed = lo.copy()
    crashed[4] = o[4] * 0.9
    after = label_long(BarsAfter.of(o, h, crashed, c, 3))
    assert (after.barrier, after.exit_offset, after.exit_return) == ("stop", 1, -0.015)
    assert after != before or before.barrier == "stop"


def test_a_bar_touching_stop_and_target_counts_as_the_stop() -> None:
    o = np.array([100.0, 100.0, 100.0, 100.0])
    h = np.array([100.0, 104.0, 100.0, 100.0])
    lo = np.array([100.0, 98.0, 100.0, 100.0])
    c = np.array([100.0, 100.0, 100.0, 101.0])
    label = label_long(BarsAfter.of(o, h, lo, c, 0), horizon=3)
    assert (label.barrier, label.exit_return) == ("stop", -0.015)
    assert label.forward_return == pytest.approx(0.01)


def test_a_long_that_reaches_its_target_first() -> None:
    o = np.array([100.0, 100.0, 101.0, 102.0])
    h = np.array([100.0, 101.0, 103.5, 103.0])
    lo = np.array([100.0, 99.0, 100.5, 101.0])
    c = np.array([100.0, 100.5, 103.0, 102.0])
    label = label_long(BarsAfter.of(o, h, lo, c, 0), horizon=3)
    assert (label.barrier, label.exit_offset, label.exit_return) == ("target", 2, 0.03)
