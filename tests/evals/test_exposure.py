"""The eval book's exposure and buy-and-hold at that exposure, on sets small enough to check by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evals.controls import STAKE
from evals.exposure import book_exposure
from evals.scores import score_run
from quant.benchmark_at_exposure import benchmark_at_exposure

DAYS = ["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04", "2021-03-05"]
TWO_TRADES = [
    {"day": DAYS[0], "exit_day": DAYS[2]},  # open on the 2nd and the 3rd
    {"day": DAYS[1], "exit_day": DAYS[3]},  # open on the 3rd and the 4th
]


def test_a_trade_is_open_from_the_day_after_its_event_through_its_exit_day() -> None:
    exposure = book_exposure(DAYS, TWO_TRADES)
    assert list(exposure) == pytest.approx([0.0, STAKE, 2 * STAKE, STAKE, 0.0])
    assert exposure.mean() == pytest.approx(4 * STAKE / 5)  # 0.02: 2 % invested on average


def test_buy_and_hold_at_the_books_exposure_earns_each_days_return_times_that_days_exposure() -> None:
    benchmark = [1.0, 1.1, 1.21, 1.21, 1.0]  # +10 %, +10 %, flat, -17.4 %
    matched = benchmark_at_exposure(benchmark, book_exposure(DAYS, TWO_TRADES))
    # 2.5 % of +10 % on the 2nd, 5 % of +10 % on the 3rd, nothing on the 4th (flat) or the 5th (not invested)
    assert list(matched) == pytest.approx([1.0, 1.0025, 1.0075, 1.0075, 1.0075])
    fully = benchmark_at_exposure(benchmark, np.ones(5))
    assert fully[-1] - 1.0 == pytest.approx(0.1 + 0.1 + 0.0 + (1.0 / 1.21 - 1.0))  # additive, not compounded


def test_the_exposure_must_match_the_benchmark_point_by_point() -> None:
    with pytest.raises(ValueError, match="one exposure per point"):
        benchmark_at_exposure([1.0, 1.1], [0.1])


def test_the_tiny_runs_exposure_and_its_matched_benchmark(tiny_set: Path, tiny_run: Path) -> None:
    scores, curves = score_run(tiny_set, tiny_run)
    # e1 (day 1, exits day 2) and e2 (day 1, exits day 3): both open on day 2, e2 alone on day 3
    assert curves.exposure == pytest.approx([0.0, 2 * STAKE, STAKE, 0.0, 0.0])
    assert scores["avg_exposure"].value == pytest.approx(3 * STAKE / 5)
    # the equal-weight basket: 1, 1.05, 1.15, 1.10, 1.20
    expected = 2 * STAKE * 0.05 + STAKE * (1.15 / 1.05 - 1.0)
    assert scores["exposure_matched_benchmark_pnl"].value == pytest.approx(expected)
    assert scores["benchmark_pnl"].value == pytest.approx(0.2)  # the 100 %-invested one is kept
