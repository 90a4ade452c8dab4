"""Data quality: clean real bars score (near) perfectly, and every injected corruption is found where it is."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from quant import data_quality as dq
from quant.data_quality import Check, MismatchThresholds, MismatchTier

BUNDLED = Path(__file__).resolve().parents[2] / "aegis" / "data" / "market" / "us_stocks_daily_2012_2017.csv"
FloatArray = npt.NDArray[np.float64]

# NYSE full-day holidays between 2012-09-04 and 2017-09-01, and the two days it shut for Hurricane Sandy.
NYSE_HOLIDAYS = [
    "2012-11-22", "2012-12-25",
    "2013-01-01", "2013-01-21", "2013-02-18", "2013-03-29", "2013-05-27", "2013-07-04", "2013-09-02",
    "2013-11-28", "2013-12-25",
    "2014-01-01", "2014-01-20", "2014-02-17", "2014-04-18", "2014-05-26", "2014-07-04", "2014-09-01",
    "2014-11-27", "2014-12-25",
    "2015-01-01", "2015-01-19", "2015-02-16", "2015-04-03", "2015-05-25", "2015-07-03", "2015-09-07",
    "2015-11-26", "2015-12-25",
    "2016-01-01", "2016-01-18", "2016-02-15", "2016-03-25", "2016-05-30", "2016-07-04", "2016-09-05",
    "2016-11-24", "2016-12-26",
    "2017-01-02", "2017-01-16", "2017-02-20", "2017-04-14", "2017-05-29", "2017-07-04",
]  # fmt: skip
SANDY_CLOSURES = ["2012-10-29", "2012-10-30"]


def _bundled() -> tuple[list[str], npt.NDArray[np.str_], dict[str, FloatArray]]:
    """Symbols, dates and (time, symbols) OHLCV panels of the bundled daily stocks (rows are by ticker)."""
    with BUNDLED.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    symbols = list(dict.fromkeys(row["Ticker"] for row in rows))
    dates = np.array([row["Date"] for row in rows if row["Ticker"] == symbols[0]])
    panels = {
        field: np.array([float(row[field.capitalize()]) for row in rows]).reshape(len(symbols), -1).T
        for field in dq.FIELDS
    }
    return symbols, dates, panels


SYMBOLS, DATES, PANELS = _bundled()
AAPL = {field: panel[:, SYMBOLS.index("AAPL")].copy() for field, panel in PANELS.items()}
NYSE = dq.weekday_calendar(DATES[0], DATES[-1], NYSE_HOLIDAYS + SANDY_CLOSURES)
# Real earnings-day moves beyond the default 10 robust sigmas: (symbol, day), all genuine (see aegis/data).
REAL_BIG_MOVES = {
    ("AAPL", date(2013, 1, 24)), ("MSFT", date(2013, 7, 19)), ("GOOG", date(2013, 10, 18)),
    ("GOOG", date(2015, 7, 17)), ("WMT", date(2015, 10, 14)), ("WMT", date(2016, 5, 19)),
}  # fmt: skip


def _check(bars: dict[str, FloatArray], **options: object) -> dq.QualityReport:
    return dq.check_ohlcv(*(bars[field] for field in dq.FIELDS), **options)  # type: ignore[arg-type]


def _located(report: dq.QualityReport) -> set[tuple[Check, int | None, str | None]]:
    return {(f.check, f.row, f.field) for f in report.findings}


# --- real data ----------------------------------------------------------------------------------------


def test_the_bundled_stocks_are_clean_against_the_nyse_calendar_but_for_six_real_earnings_moves() -> None:
    report = _check(PANELS, dates=DATES, calendar=NYSE)
    assert len(DATES) == len(NYSE) == 1258
    c = report.components
    assert (c.schema, c.finiteness, c.price_sanity, c.continuity) == (1.0, 1.0, 1.0, 1.0)
    assert {f.check for f in report.findings} == {Check.RETURN_OUTLIER}
    assert {(SYMBOLS[f.column], f.day) for f in report.findings if f.column is not None} == REAL_BIG_MOVES
    assert report.score == pytest.approx(1 - 6 / (12 * 1257))
    assert report.score > 0.999


def test_each_bundled_stock_scores_one_with_a_looser_outlier_threshold() -> None:
    for column, symbol in enumerate(SYMBOLS):
        bars = {field: panel[:, column] for field, panel in PANELS.items()}
        report = _check(bars, dates=DATES, calendar=NYSE, outlier_threshold=15.0)
        assert (symbol, report.score, report.findings) == (symbol, 1.0, ())


def test_a_plain_weekday_calendar_finds_the_two_hurricane_sandy_closures_missing() -> None:
    holidays_only = dq.weekday_calendar(DATES[0], DATES[-1], NYSE_HOLIDAYS)
    report = _check(AAPL, dates=DATES, calendar=holidays_only, outlier_threshold=15.0)
    missing = report.of(Check.MISSING_DAY)
    assert [(f.day, f.row) for f in missing] == [(date(2012, 10, 29), None), (date(2012, 10, 30), None)]
    assert report.findings == missing
    assert report.components.continuity == pytest.approx(1 - 2 / 1260)


# --- injected corruptions -----------------------------------------------------------------------------


def _corrupt(field: str, row: int, value: float) -> dict[str, FloatArray]:
    bars = {name: a.copy() for name, a in AAPL.items()}
    bars[field][row] = value
    return bars


@pytest.mark.parametrize(
    ("field", "row", "value", "expected"),
    [
        ("close", 100, np.nan, {(Check.NON_FINITE, 100, "close")}),
        ("volume", 200, np.inf, {(Check.NON_FINITE, 200, "volume")}),
        ("high", 300, AAPL["close"][300] - 0.01, {(Check.HIGH_BELOW_BODY, 300, "high")}),
        ("low", 400, max(AAPL["open"][400], AAPL["close"][400]), {(Check.LOW_ABOVE_BODY, 400, "low")}),
        ("volume", 600, -1.0, {(Check.NEGATIVE_VOLUME, 600, "volume")}),
        # A non-positive open is also below the low, which is then above the bar's body.
        ("open", 500, 0.0, {(Check.NON_POSITIVE_PRICE, 500, "open"), (Check.LOW_ABOVE_BODY, 500, "low")}),
    ],
)
def test_an_injected_bar_corruption_is_found_at_its_row(
    field: str, row: int, value: float, expected: set[tuple[Check, int, str]]
) -> None:
    report = _check(_corrupt(field, row, value), dates=DATES, calendar=NYSE, outlier_threshold=15.0)
    assert _located(report) == expected
    assert all(f.day == date.fromisoformat(str(DATES[row])) for f in report.findings)
    assert report.score < 1.0


def test_a_corrupt_cell_in_a_panel_names_its_symbol_column() -> None:
    panels = {name: a.copy() for name, a in PANELS.items()}
    panels["high"][700, SYMBOLS.index("KO")] = 1.0
    report = _check(panels, outlier_threshold=15.0)
    assert [(f.check, f.row, SYMBOLS[f.column or 0]) for f in report.findings] == [(Check.HIGH_BELOW_BODY, 700, "KO")]
    assert report.components.price_sanity == pytest.approx(1 - 1 / (12 * 1258))


def _day(text: object) -> date:
    return date.fromisoformat(str(text))


# Row 1002 is the Monday 2016-08-29 right after a Friday, so the Saturday in between can replace it.
SATURDAY_ROW, SATURDAY = 1002, "2016-08-27"


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda d: np.delete(d, 700), {(Check.MISSING_DAY, None, _day(DATES[700]))}),
        (
            lambda d: np.concatenate([d[:800], d[799:800], d[801:]]),  # row 800 repeats row 799's day, losing its own
            {(Check.DUPLICATE_DAY, 800, _day(DATES[799])), (Check.MISSING_DAY, None, _day(DATES[800]))},
        ),
        (
            lambda d: np.concatenate([d[:900], d[901:902], d[900:901], d[902:]]),
            {(Check.OUT_OF_ORDER_DAY, 901, _day(DATES[900]))},
        ),
        (
            lambda d: np.concatenate([d[:SATURDAY_ROW], [SATURDAY], d[SATURDAY_ROW + 1 :]]),
            {
                (Check.UNEXPECTED_DAY, SATURDAY_ROW, _day(SATURDAY)),
                (Check.MISSING_DAY, None, _day(DATES[SATURDAY_ROW])),
            },
        ),
    ],
    ids=["missing", "duplicate", "out_of_order", "unexpected"],
)
def test_calendar_problems_are_found_with_their_rows_and_days(
    corrupt: Callable[[npt.NDArray[np.str_]], npt.NDArray[np.str_]], expected: set[tuple[Check, int | None, date]]
) -> None:
    assert (DATES[SATURDAY_ROW - 1], DATES[SATURDAY_ROW]) == ("2016-08-26", "2016-08-29")
    found = {(f.check, f.row, f.day) for f in dq.check_calendar(corrupt(DATES.copy()), NYSE)}
    assert found == expected


def test_a_spike_injected_into_a_real_series_is_an_outlier_on_the_way_up_and_down() -> None:
    close = AAPL["close"].copy()
    close[1000] *= 1.25  # a bad tick: 25 % up for one day
    found = {(f.row, f.day) for f in dq.return_outliers(close, dates=DATES)}
    spike = {(1000, date.fromisoformat(str(DATES[1000]))), (1001, date.fromisoformat(str(DATES[1001])))}
    assert found == spike | {(96, date(2013, 1, 24))}  # the real post-earnings drop stays flagged
    assert {f.row for f in dq.return_outliers(close, threshold=12.0)} == {1000, 1001}


def test_outliers_are_measured_in_robust_sigmas_of_log_returns() -> None:
    returns = np.tile([0.01, -0.01, 0.02, -0.02], 25)
    returns[60] = 0.10  # median 0, median absolute deviation 0.02: z = 0.10 / (1.4826 * 0.02) = 3.37
    close = 100.0 * np.exp(np.r_[0.0, np.cumsum(returns)])
    [finding] = dq.return_outliers(close, threshold=3.0)
    assert finding.row == 61  # the return into bar 61
    assert finding.value == pytest.approx(0.10)
    assert "3.4 robust sigmas" in finding.reason
    assert dq.return_outliers(close, threshold=3.5) == []


def test_a_flat_series_flags_any_move_and_skips_returns_it_cannot_compute() -> None:
    close = np.full(50, 10.0)
    close[20] = 10.5
    close[40] = np.nan
    assert [f.row for f in dq.return_outliers(close)] == [20, 21]


# --- schema -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"close": AAPL["close"][:-1]}, "differ in shape"),
        ({"volume": AAPL["volume"].astype(str)}, "volume has dtype <U"),
        ({field: a[:0] for field, a in AAPL.items()}, "no bars"),
        ({field: a.reshape(1, 2, -1) for field, a in AAPL.items()}, "3-D"),
    ],
)
def test_unusable_arrays_score_zero_with_only_schema_findings(change: dict[str, FloatArray], reason: str) -> None:
    report = _check({**AAPL, **change})
    assert report.score == 0.0
    assert {f.check for f in report.findings} == {Check.SCHEMA}
    assert any(reason in f.reason for f in report.findings)


@pytest.mark.parametrize(
    ("dates", "reason"), [(DATES[:-1], "1257 dates for 1258 rows"), (np.array(["2012-13-45"] * 1258), "not dates")]
)
def test_unusable_dates_are_a_schema_finding(dates: npt.NDArray[np.str_], reason: str) -> None:
    report = _check(AAPL, dates=dates)
    assert report.score == 0.0
    assert [f.field for f in report.findings] == ["dates"]
    assert reason in report.findings[0].reason


# --- price mismatches between two sources -------------------------------------------------------------


@pytest.mark.parametrize(
    ("other", "tier", "difference"),
    [
        (100.0, MismatchTier.IGNORE, 0.0),
        (100.49, MismatchTier.IGNORE, 0.0049),
        (100.5, MismatchTier.ASK_VALIDATOR, 0.005),  # exactly 0.5 %: inclusive, the validator is asked
        (99.5, MismatchTier.ASK_VALIDATOR, 0.005),
        (102.0, MismatchTier.ASK_VALIDATOR, 0.02),  # exactly 2 %: still the validator, not a halt
        (98.0, MismatchTier.ASK_VALIDATOR, 0.02),
        (102.01, MismatchTier.HALT_AND_ASK_HUMAN, 0.0201),
        (150.0, MismatchTier.HALT_AND_ASK_HUMAN, 0.5),
    ],
)
def test_mismatch_tiers_and_their_exact_boundaries(other: float, tier: MismatchTier, difference: float) -> None:
    result = dq.classify_mismatch(100.0, other)
    assert result.tier is tier
    assert result.relative_difference == pytest.approx(difference, rel=1e-12, abs=0)
    if difference in (0.005, 0.02):  # the boundary cases are exact in binary, not merely close
        assert result.relative_difference == difference


@pytest.mark.parametrize(("reference", "other"), [(100.0, np.nan), (np.nan, 100.0), (0.0, 1.0), (100.0, -1.0)])
def test_an_incomparable_price_fails_closed(reference: float, other: float) -> None:
    result = dq.classify_mismatch(reference, other)
    assert result.tier is MismatchTier.HALT_AND_ASK_HUMAN
    assert np.isnan(result.relative_difference)


def test_mismatch_thresholds_are_parameters() -> None:
    strict = MismatchThresholds(validator_from=0.001, halt_above=0.005)
    assert dq.classify_mismatch(100.0, 100.2, strict).tier is MismatchTier.ASK_VALIDATOR
    assert dq.classify_mismatch(100.0, 100.6, strict).tier is MismatchTier.HALT_AND_ASK_HUMAN
    with pytest.raises(ValueError, match="validator_from <= halt_above"):
        MismatchThresholds(validator_from=0.03, halt_above=0.02)


def test_comparing_two_sources_reports_each_mismatch_with_its_row_and_day() -> None:
    primary = AAPL["close"]
    secondary = primary.copy()
    secondary[10] *= 1.001  # ignored
    secondary[20] *= 1.01  # the validator is asked
    secondary[30] *= 0.95  # halt
    found = dq.compare_sources(primary, secondary, dates=DATES)
    assert [(m.row, m.tier) for m in found] == [(20, MismatchTier.ASK_VALIDATOR), (30, MismatchTier.HALT_AND_ASK_HUMAN)]
    assert found[1].day == date.fromisoformat(str(DATES[30]))
    assert found[1].relative_difference == pytest.approx(0.05)
    assert dq.worst_tier(found) is MismatchTier.HALT_AND_ASK_HUMAN
    assert dq.worst_tier(dq.compare_sources(primary, primary)) is MismatchTier.IGNORE


def test_comparing_panels_names_the_symbol_column_and_fails_closed_on_a_missing_price() -> None:
    primary = PANELS["close"][:50]
    secondary = primary.copy()
    secondary[7, SYMBOLS.index("JPM")] = np.nan
    [mismatch] = dq.compare_sources(primary, secondary)
    assert (mismatch.row, SYMBOLS[mismatch.column or 0], mismatch.tier) == (7, "JPM", MismatchTier.HALT_AND_ASK_HUMAN)


def test_a_calendar_without_dates_is_a_schema_finding() -> None:
    report = _check(AAPL, calendar=NYSE)
    assert [f.check for f in report.findings] == [Check.SCHEMA]
    assert "needs the bars' dates" in report.findings[0].reason
