"""Specification of the market rules on small constructed series and order books (synthetic, edge by edge).

Defaults from the source documents: a move of 5 % or more within one minute; volume 10x its trailing
average (previous 20 bars); funding beyond +-0.1 % per 8 hours; order-book imbalance of 70 % or more.
The real-data checks are in ``test_markets_on_real_data.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.anomalies import (
    MarketThresholds,
    RuleScan,
    Severity,
    scan_book_imbalance,
    scan_funding,
    scan_price_moves,
    scan_volume_spikes,
)

MINUTE = 60.0


def minutes(n: int, start: float = 1_600_000_000.0) -> np.ndarray:
    return start + MINUTE * np.arange(n)


def levels(scan: RuleScan) -> list[int]:
    return [int(level) for level in scan.level[:, 0]]


# --- price moves -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "severity"),
    [
        (104.99, 0),
        (105.0, Severity.HIGH),
        (95.0, Severity.HIGH),  # down moves count the same
        (109.99, Severity.HIGH),
        (110.0, Severity.CRITICAL),
        (90.0, Severity.CRITICAL),
    ],
)
def test_a_move_of_five_percent_or_more_within_a_minute_fires(after: float, severity: int) -> None:
    scan = scan_price_moves([100.0, after], times_s=minutes(2), symbols=["X"])
    assert levels(scan) == [0, severity]
    assert scan.value[1, 0] == pytest.approx(after - 100.0)
    assert scan.basis[1, 0] == 100.0  # the previous close


def test_bars_more_than_a_minute_apart_are_not_compared() -> None:
    # An overnight gap (or a missing minute) is not a one-minute move, however large.
    times = np.array([0.0, 60.0, 121.0, 181.0])
    scan = scan_price_moves([100.0, 100.0, 120.0, 120.0], times_s=times, symbols=["X"])
    assert levels(scan) == [0, 0, 0, 0]
    assert np.isnan(scan.value[[0, 2], 0]).all()


def test_the_move_window_is_a_parameter() -> None:
    daily = MarketThresholds(move_window_s=86_400.0)
    scan = scan_price_moves([100.0, 94.0], times_s=[0.0, 86_400.0], symbols=["X"], thresholds=daily)
    assert levels(scan) == [0, Severity.HIGH]


def test_a_panel_is_scanned_symbol_by_symbol() -> None:
    close = np.array([[100.0, 50.0], [106.0, 50.5], [106.0, 40.0]])
    scan = scan_price_moves(close, times_s=minutes(3), symbols=["AAA", "BBB"])
    assert scan.level.tolist() == [[0, 0], [Severity.HIGH, 0], [0, Severity.CRITICAL]]
    assert [(f.subject, f.at_s, f.severity) for f in scan.findings()] == [
        ("AAA", minutes(3)[1], Severity.HIGH),
        ("BBB", minutes(3)[2], Severity.CRITICAL),
    ]


# --- volume spikes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "severity"),
    [(999.0, 0), (1000.0, Severity.LOW), (1999.0, Severity.LOW), (2000.0, Severity.MEDIUM), (5000.0, Severity.HIGH)],
)
def test_volume_ten_times_the_mean_of_the_previous_twenty_bars_fires(last: float, severity: int) -> None:
    volume = [100.0] * 20 + [last]
    scan = scan_volume_spikes(volume, times_s=minutes(21), symbols=["X"])
    # 1,000 after twenty bars of 100 is exactly 10x: the spike itself is not part of its baseline.
    assert levels(scan)[-1] == severity
    assert scan.value[-1, 0] == last / 100.0
    assert scan.basis[-1, 0] == 100.0


def test_no_volume_verdict_before_twenty_bars_or_on_a_zero_baseline() -> None:
    scan = scan_volume_spikes([0.0] * 21 + [1000.0], times_s=minutes(22), symbols=["X"])
    assert np.isnan(scan.value[:, 0]).all()
    assert levels(scan) == [0] * 22


def test_the_volume_window_is_a_parameter() -> None:
    five = MarketThresholds(volume_window_bars=5)
    scan = scan_volume_spikes([10.0] * 5 + [100.0], times_s=minutes(6), symbols=["X"], thresholds=five)
    assert levels(scan)[-1] == Severity.LOW


# --- funding ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "severity"),
    [
        (0.001, 0),  # exactly 0.1 % per 8 h is not beyond it
        (-0.001, 0),
        (0.0010001, Severity.MEDIUM),
        (-0.0011, Severity.MEDIUM),
        (0.0021, Severity.HIGH),
        (-0.0051, Severity.CRITICAL),
    ],
)
def test_funding_beyond_a_tenth_of_a_percent_per_eight_hours_fires(rate: float, severity: int) -> None:
    scan = scan_funding([rate], times_s=[0.0], symbols=["BTCUSDT"])
    assert levels(scan) == [severity]
    assert scan.value[0, 0] == pytest.approx(rate * 100)  # percent per 8 h, sign kept


def test_funding_on_other_intervals_is_scaled_to_eight_hours() -> None:
    hourly = scan_funding([0.0002], times_s=[0.0], symbols=["X"], interval_hours=1.0)  # 0.16 % per 8 h
    assert levels(hourly) == [Severity.MEDIUM]
    assert hourly.value[0, 0] == pytest.approx(0.16)
    daily_sum = scan_funding([0.003], times_s=[0.0], symbols=["X"], interval_hours=24.0)  # 0.1 % per 8 h
    assert levels(daily_sum) == [0]


def test_a_daily_mean_of_eight_hour_prints_is_read_as_a_rate_per_eight_hours() -> None:
    prints = np.array([0.0025, 0.0001, 0.0001])  # one extreme print beside two calm ones
    one_by_one = scan_funding(prints, times_s=[0.0, 28_800.0, 57_600.0], symbols=["X"])
    daily_mean = scan_funding([prints.mean()], times_s=[0.0], symbols=["X"])
    assert levels(one_by_one) == [Severity.HIGH, 0, 0]
    assert levels(daily_mean) == [0]  # 0.09 %: the mean dilutes the extreme print, as documented


# --- order-book imbalance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bids", "asks", "imbalance", "severity"),
    [
        ([84.0], [16.0], 0.68, 0),
        ([85.0], [15.0], 0.7, Severity.LOW),
        ([10.0], [90.0], -0.8, Severity.LOW),  # ask-heavy counts the same
        ([95.0], [5.0], 0.9, Severity.MEDIUM),
        ([3.0, 1.0], [0.0, 0.0], 1.0, Severity.HIGH),  # one side of the book is empty
    ],
)
def test_an_imbalance_of_seventy_percent_or_more_fires(
    bids: list[float], asks: list[float], imbalance: float, severity: int
) -> None:
    scan = scan_book_imbalance(bids, asks, at_s=0.0, symbols=["X"])
    assert scan.value[0, 0] == pytest.approx(imbalance)
    assert levels(scan) == [severity]


def test_an_empty_book_has_no_imbalance() -> None:
    scan = scan_book_imbalance([0.0, 0.0], [0.0, 0.0], at_s=0.0, symbols=["X"])
    assert math.isnan(scan.value[0, 0])
    assert levels(scan) == [0]


def test_only_the_top_levels_count() -> None:
    # Synthetic book: balanced over the top 10 levels, a bid wall at level 11.
    bids = [1.0] * 10 + [100.0]
    asks = [1.0] * 11
    assert levels(scan_book_imbalance(bids, asks, at_s=0.0, symbols=["X"])) == [0]
    deeper = MarketThresholds(book_levels=11)
    assert levels(scan_book_imbalance(bids, asks, at_s=0.0, symbols=["X"], thresholds=deeper)) == [Severity.LOW]


def test_books_of_many_symbols_are_scanned_at_once() -> None:
    bids = np.array([[5.0, 5.0], [9.0, 9.0], [1.0, 0.0]])
    asks = np.array([[5.0, 5.0], [1.0, 1.0], [9.0, 10.0]])
    scan = scan_book_imbalance(bids, asks, at_s=42.0, symbols=["A", "B", "C"])
    assert scan.level.tolist() == [[0, Severity.LOW, Severity.MEDIUM]]
    assert [(f.subject, f.at_s, round(f.evidence.value, 3)) for f in scan.findings()] == [
        ("B", 42.0, 0.8),
        ("C", 42.0, -0.9),
    ]


# --- inputs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: scan_price_moves([100.0, math.nan], times_s=minutes(2), symbols=["X"]),
            r"close has NaN at index \(1, 0\)",
        ),
        (lambda: scan_price_moves([100.0, 0.0], times_s=minutes(2), symbols=["X"]), "close must be positive"),
        (lambda: scan_price_moves([1.0, 2.0], times_s=[60.0, 0.0], symbols=["X"]), "strictly increasing"),
        (lambda: scan_price_moves([1.0, 2.0], times_s=minutes(3), symbols=["X"]), "one time per row"),
        (lambda: scan_price_moves([[1.0, 2.0]], times_s=minutes(1), symbols=["X"]), "for 1 symbols"),
        (lambda: scan_volume_spikes([1.0, -1.0], times_s=minutes(2), symbols=["X"]), "volume must be >= 0"),
        (lambda: scan_funding([0.1], times_s=[0.0], symbols=["X"], interval_hours=0.0), "interval_hours"),
        (lambda: scan_book_imbalance([1.0], [-1.0], at_s=0.0, symbols=["X"]), "ask_qty must be >= 0"),
        (lambda: scan_book_imbalance([[1.0]], [[1.0]], at_s=0.0, symbols=["X", "Y"]), "bid_qty must be"),
    ],
)
def test_malformed_market_inputs_are_refused_with_the_argument_named(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    "overrides",
    [{"move_at_least_pct": 0.0}, {"volume_window_bars": 0}, {"imbalance_at_least": 1.5}, {"book_levels": 0}],
)
def test_nonsense_market_thresholds_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(overrides))):
        MarketThresholds(**overrides)  # type: ignore[arg-type]
