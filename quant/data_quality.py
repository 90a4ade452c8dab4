"""Data quality of OHLCV bars: schema, price sanity, calendar continuity, return outliers, source mismatches.

This module owns deciding whether bars can be trusted, and saying why not. Every problem becomes a
``Finding`` naming its row (and symbol column on a ``(time, symbols)`` panel), its day when dates are given,
the field and a reason. Arrays are checked as given.

Decisions that must not be silently changed:
- Nothing is ever repaired, dropped, filled or reordered here; callers decide what a finding means.
- A schema failure (unusable dtype, shape or dates) stops the checks: the report then holds only schema
  findings and scores 0, because nothing else can be read reliably.
- Price mismatches between two sources fail closed: a price that is missing, infinite or not positive on
  either side is not comparable and halts trading like a large mismatch.
- Mismatch tiers, with ``d = |other - reference| / reference`` computed in double precision:
  ``d < validator_from`` (0.5 %) ignore; ``validator_from <= d <= halt_above`` (2 %) ask the validator;
  ``d > halt_above`` halt trading and ask a human. Both boundaries belong to the validator tier.

Pure: numpy only, no I/O, no clock; imports nothing from the rest of the project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DayArray = npt.NDArray[np.datetime64]

FIELDS = ("open", "high", "low", "close", "volume")
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation is 1.4826 median absolute deviations
DEFAULT_OUTLIER_THRESHOLD = 10.0  # robust sigmas; real earnings days reach 10-15, bad ticks far more


class Check(StrEnum):
    SCHEMA = "schema"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    HIGH_BELOW_BODY = "high_below_open_or_close"
    LOW_ABOVE_BODY = "low_above_open_or_close"
    NEGATIVE_VOLUME = "negative_volume"
    MISSING_DAY = "missing_day"
    UNEXPECTED_DAY = "unexpected_day"
    DUPLICATE_DAY = "duplicate_day"
    OUT_OF_ORDER_DAY = "out_of_order_day"
    RETURN_OUTLIER = "return_outlier"
    ZERO_VOLUME = "zero_volume"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem. ``row`` is the bar index (None for a day absent from the data); ``column`` the symbol."""

    check: Check
    reason: str
    row: int | None = None
    column: int | None = None
    day: date | None = None
    field: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class QualityComponents:
    """Each component is a share in [0, 1] of what passed its check; the score is their product."""

    schema: float  # 1 when dtypes, shapes and dates are usable, else 0 (and nothing else was checked)
    finiteness: float  # OHLCV cells that are finite
    price_sanity: float  # fully finite bars passing every price and volume rule
    continuity: float  # 1 - calendar problems / expected days (rows when no calendar is given)
    outliers: float  # log returns within the robust threshold

    @property
    def score(self) -> float:
        return self.schema * self.finiteness * self.price_sanity * self.continuity * self.outliers


@dataclass(frozen=True, slots=True)
class QualityReport:
    components: QualityComponents
    findings: tuple[Finding, ...]

    @property
    def score(self) -> float:
        """Overall quality in [0, 1]: 1.0 for data with no finding at all."""
        return self.components.score

    def of(self, check: Check) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.check is check)


def check_ohlcv(
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    *,
    dates: npt.ArrayLike | None = None,
    calendar: npt.ArrayLike | None = None,
    outlier_threshold: float = DEFAULT_OUTLIER_THRESHOLD,
) -> QualityReport:
    """Every check on OHLCV bars, 1-D ``(time,)`` or 2-D ``(time, symbols)``, with a score and findings.

    ``dates`` (one per row; ISO strings, ``datetime.date`` or ``datetime64``) put days on the findings and
    enable the order and duplicate checks; ``calendar`` (the expected trading days, e.g. from
    ``weekday_calendar``) adds missing and unexpected days. Outliers are judged on the close.
    """
    named = dict(zip(FIELDS, (open_, high, low, close, volume), strict=True))
    arrays, days, expected, problems = _schema(named, dates, calendar)
    if problems:
        return QualityReport(QualityComponents(0.0, 0.0, 0.0, 0.0, 0.0), tuple(problems))
    o, h, lo, c, v = (arrays[name] for name in FIELDS)
    finite = [_non_finite(name, a, days) for name, a in arrays.items()]
    finite_cells = sum(int(np.isfinite(a).sum()) for a in arrays.values())
    sane, sanity = _price_sanity(o, h, lo, c, v, days)
    calendar_findings = check_calendar(days, expected) if days is not None else []
    outliers, evaluated = _return_outliers(c, outlier_threshold, days)
    bars_finite = int(np.logical_and.reduce([np.isfinite(a) for a in arrays.values()]).sum())
    calendar_size = len(expected) if expected is not None else len(c)
    components = QualityComponents(
        schema=1.0,
        finiteness=finite_cells / (5 * c.size),
        price_sanity=sane / bars_finite if bars_finite else 0.0,
        continuity=max(0.0, 1.0 - len(calendar_findings) / max(calendar_size, 1)),
        outliers=1.0 - len(outliers) / evaluated if evaluated else 1.0,
    )
    findings = [f for group in finite for f in group] + sanity + calendar_findings + outliers
    return QualityReport(components, tuple(findings))


# --- calendar ------------------------------------------------------------------------------------------


def weekday_calendar(start: str | date, end: str | date, holidays: npt.ArrayLike = ()) -> DayArray:
    """Expected trading days: Monday to Friday from ``start`` to ``end`` inclusive, minus ``holidays``.

    ``holidays`` also takes one-off closures (e.g. 2012-10-29 and -30, when NYSE shut for Hurricane Sandy).
    """
    first = np.asarray(start, dtype="datetime64[D]")
    span = int((np.asarray(end, dtype="datetime64[D]") - first) // np.timedelta64(1, "D")) + 1
    days = first + np.arange(max(span, 0)).astype("timedelta64[D]")
    closed = np.asarray(holidays, dtype="datetime64[D]")
    trading: DayArray = days[np.is_busday(days, holidays=closed)]
    return trading


def check_calendar(dates: npt.ArrayLike, calendar: npt.ArrayLike | None = None) -> list[Finding]:
    """Out-of-order and duplicate rows, and, against ``calendar``, missing and unexpected days."""
    days = np.asarray(dates, dtype="datetime64[D]")
    findings: list[Finding] = []
    for row in np.flatnonzero(days[1:] < days[:-1]) + 1:
        reason = f"{days[row]} comes after {days[row - 1]}"
        findings.append(Finding(Check.OUT_OF_ORDER_DAY, reason, row=int(row), day=_day(days[row])))
    _, first_rows, day_of_row = np.unique(days, return_index=True, return_inverse=True)
    first_of_row = first_rows[day_of_row]
    for row in np.flatnonzero(first_of_row != np.arange(len(days))):
        reason = f"{days[row]} already appears at row {first_of_row[row]}"
        findings.append(Finding(Check.DUPLICATE_DAY, reason, row=int(row), day=_day(days[row])))
    if calendar is not None:
        expected = np.asarray(calendar, dtype="datetime64[D]")
        for day in np.setdiff1d(expected, days):
            findings.append(Finding(Check.MISSING_DAY, f"expected trading day {day} has no bar", day=_day(day)))
        for row in np.flatnonzero(~np.isin(days, expected)):
            reason = f"{days[row]} is not a trading day of the calendar"
            findings.append(Finding(Check.UNEXPECTED_DAY, reason, row=int(row), day=_day(days[row])))
    return findings


# --- volume ------------------------------------------------------------------------------------------


def zero_volume(volume: npt.ArrayLike, dates: npt.ArrayLike | None = None) -> list[Finding]:
    """Bars that traded nothing (volume exactly 0), per row and symbol column.

    Not part of ``check_ohlcv`` or its score: a zero-volume day is real on a halted or illiquid name, but
    a price on it was not traded and deserves a flag.
    """
    v = np.asarray(volume, dtype=np.float64)
    days = None if dates is None else np.asarray(dates, dtype="datetime64[D]")
    return [
        _at(Check.ZERO_VOLUME, "volume is 0: nothing traded", index[0], _column(index), v.ndim, days, "volume", 0.0)
        for index in map(tuple, np.argwhere(v == 0.0))
    ]


# --- outliers ------------------------------------------------------------------------------------------


def return_outliers(
    close: npt.ArrayLike, threshold: float = DEFAULT_OUTLIER_THRESHOLD, dates: npt.ArrayLike | None = None
) -> list[Finding]:
    """Log returns more than ``threshold`` robust sigmas from their median, per symbol column.

    The robust sigma is 1.4826 times the median absolute deviation of the column's log returns, so a few
    wild values cannot hide themselves by inflating it. The return from row ``t - 1`` to ``t`` is reported
    at row ``t``; returns touching a missing or non-positive close are skipped. A column whose returns are
    all equal (zero deviation) flags every return that differs from them.
    """
    c = np.asarray(close, dtype=np.float64)
    days = None if dates is None else np.asarray(dates, dtype="datetime64[D]")
    return _return_outliers(c, threshold, days)[0]


def _return_outliers(c: FloatArray, threshold: float, days: DayArray | None) -> tuple[list[Finding], int]:
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive number of robust sigmas, got {threshold}")
    panel = c.reshape(len(c), -1)
    usable = np.isfinite(panel) & (panel > 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_close = np.where(usable, np.log(np.where(usable, panel, 1.0)), np.nan)
    returns = np.diff(log_close, axis=0)
    evaluated = np.isfinite(returns)
    findings: list[Finding] = []
    for column in range(returns.shape[1]):
        r = returns[evaluated[:, column], column]
        if len(r) < 3:
            continue
        median = float(np.median(r))
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(r - median)))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(returns[:, column] - median) / sigma
        for row in np.flatnonzero(evaluated[:, column] & (z > threshold)) + 1:
            value = float(returns[row - 1, column])
            reason = f"log return {value:+.4f} is {z[row - 1]:.1f} robust sigmas from the median {median:+.4f}"
            findings.append(_at(Check.RETURN_OUTLIER, reason, row, column, c.ndim, days, "close", value))
    findings.sort(key=lambda f: (f.row or 0, f.column or 0))
    return findings, int(evaluated.sum())


# --- source mismatches ---------------------------------------------------------------------------------


class MismatchTier(StrEnum):
    IGNORE = "ignore"
    ASK_VALIDATOR = "ask_validator"
    HALT_AND_ASK_HUMAN = "halt_and_ask_human"


@dataclass(frozen=True, slots=True)
class MismatchThresholds:
    """Relative differences as fractions (0.005 = 0.5 %); see the module docstring for the boundaries."""

    validator_from: float = 0.005  # inclusive: from here on the validator is asked
    halt_above: float = 0.02  # exclusive: strictly above this, trading halts and a human is asked

    def __post_init__(self) -> None:
        if not (0.0 <= self.validator_from <= self.halt_above < math.inf):
            raise ValueError(f"need 0 <= validator_from <= halt_above < inf, got {self}")


@dataclass(frozen=True, slots=True)
class PriceMismatch:
    """One comparison. ``relative_difference`` is a fraction of the reference; NaN when not comparable."""

    tier: MismatchTier
    relative_difference: float
    reference: float
    other: float
    row: int | None = None
    column: int | None = None
    day: date | None = None


def classify_mismatch(reference: float, other: float, thresholds: MismatchThresholds | None = None) -> PriceMismatch:
    """The tier for one price seen by two sources; ``reference`` is the primary source's price."""
    t = thresholds or MismatchThresholds()
    if not (math.isfinite(reference) and math.isfinite(other) and reference > 0.0 and other > 0.0):
        return PriceMismatch(MismatchTier.HALT_AND_ASK_HUMAN, math.nan, reference, other)
    d = abs(other - reference) / reference
    if d < t.validator_from:
        tier = MismatchTier.IGNORE
    elif d <= t.halt_above:
        tier = MismatchTier.ASK_VALIDATOR
    else:
        tier = MismatchTier.HALT_AND_ASK_HUMAN
    return PriceMismatch(tier, d, reference, other)


def compare_sources(
    reference: npt.ArrayLike,
    other: npt.ArrayLike,
    thresholds: MismatchThresholds | None = None,
    dates: npt.ArrayLike | None = None,
) -> list[PriceMismatch]:
    """Every cell of two same-shaped price arrays whose mismatch is not ignorable, earliest row first."""
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"reference {a.shape} and other {b.shape} must share one shape")
    t = thresholds or MismatchThresholds()
    days = None if dates is None else np.asarray(dates, dtype="datetime64[D]")
    with np.errstate(invalid="ignore", divide="ignore"):
        comparable = np.isfinite(a) & np.isfinite(b) & (a > 0.0) & (b > 0.0)
        flagged = ~comparable | (np.abs(b - a) / a >= t.validator_from)
    found = []
    for index in map(tuple, np.argwhere(flagged)):  # the tier itself comes from classify_mismatch alone
        result = classify_mismatch(float(a[index]), float(b[index]), t)
        column = int(index[1]) if a.ndim == 2 else None
        day = _day(days[index[0]]) if days is not None else None
        found.append(replace(result, row=int(index[0]), column=column, day=day))
    return found


def worst_tier(mismatches: list[PriceMismatch]) -> MismatchTier:
    """The most severe tier among ``mismatches`` (IGNORE when there are none)."""
    order = list(MismatchTier)
    return max((m.tier for m in mismatches), key=order.index, default=MismatchTier.IGNORE)


# --- schema and sanity ---------------------------------------------------------------------------------


def _schema(
    named: dict[str, npt.ArrayLike], dates: npt.ArrayLike | None, calendar: npt.ArrayLike | None
) -> tuple[dict[str, FloatArray], DayArray | None, DayArray | None, list[Finding]]:
    problems: list[Finding] = []
    raw = {name: np.asarray(x) for name, x in named.items()}
    for name, a in raw.items():
        if a.dtype.kind not in "iuf":
            problems.append(Finding(Check.SCHEMA, f"{name} has dtype {a.dtype}, not a real number", field=name))
        if a.ndim not in (1, 2):
            problems.append(Finding(Check.SCHEMA, f"{name} is {a.ndim}-D, not (time,) or (time, symbols)", field=name))
    shapes = {name: a.shape for name, a in raw.items()}
    if len(set(shapes.values())) > 1:
        problems.append(Finding(Check.SCHEMA, f"fields differ in shape: {shapes}"))
    elif raw["close"].size == 0:
        problems.append(Finding(Check.SCHEMA, "there are no bars"))
    days, expected = _parse_days(dates, "dates", problems), _parse_days(calendar, "calendar", problems)
    if expected is not None and dates is None:
        problems.append(Finding(Check.SCHEMA, "a calendar needs the bars' dates to be checked against", field="dates"))
    if days is not None and raw["close"].ndim and len(days) != len(raw["close"]):
        problems.append(Finding(Check.SCHEMA, f"{len(days)} dates for {len(raw['close'])} rows", field="dates"))
    arrays = {} if problems else {name: a.astype(np.float64) for name, a in raw.items()}
    return arrays, days, expected, problems


def _parse_days(values: npt.ArrayLike | None, name: str, problems: list[Finding]) -> DayArray | None:
    if values is None:
        return None
    try:
        days = np.asarray(values, dtype="datetime64[D]")
    except (ValueError, TypeError) as error:
        problems.append(Finding(Check.SCHEMA, f"{name} are not dates: {error}", field=name))
        return None
    if days.ndim != 1 or np.isnat(days).any():
        problems.append(Finding(Check.SCHEMA, f"{name} must be a 1-D array of dates without NaT", field=name))
        return None
    return days


def _non_finite(name: str, a: FloatArray, days: DayArray | None) -> list[Finding]:
    return [
        _at(Check.NON_FINITE, f"{name} is {a[index]}", index[0], _column(index), a.ndim, days, name, float(a[index]))
        for index in map(tuple, np.argwhere(~np.isfinite(a)))
    ]


def _price_sanity(
    o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, days: DayArray | None
) -> tuple[int, list[Finding]]:
    """Bars (cells) that are fully finite and pass every rule, and a finding per broken rule."""
    findings: list[Finding] = []
    bad = np.zeros(c.shape, dtype=bool)
    prices = (("open", o), ("high", h), ("low", lo), ("close", c))
    rules = [(Check.NON_POSITIVE_PRICE, name, a, a <= 0.0, "is not positive") for name, a in prices]
    rules.append((Check.NEGATIVE_VOLUME, "volume", v, v < 0.0, "is negative"))
    for check, name, a, broken, what in rules:
        for index in map(tuple, np.argwhere(broken)):
            reason = f"{name} {a[index]} {what}"
            findings.append(_at(check, reason, index[0], _column(index), c.ndim, days, name, float(a[index])))
        bad |= broken
    body_top, body_bottom = np.maximum(o, c), np.minimum(o, c)
    for check, name, a, broken, relation, bound in (
        (Check.HIGH_BELOW_BODY, "high", h, h < body_top, "<", body_top),
        (Check.LOW_ABOVE_BODY, "low", lo, lo > body_bottom, ">", body_bottom),
    ):
        for index in map(tuple, np.argwhere(broken)):
            side = "open" if bound[index] == o[index] else "close"
            reason = f"{name} {a[index]} {relation} {side} {bound[index]}"
            findings.append(_at(check, reason, index[0], _column(index), c.ndim, days, name, float(a[index])))
        bad |= broken
    finite = np.logical_and.reduce([np.isfinite(a) for a in (o, h, lo, c, v)])
    findings.sort(key=lambda f: (f.row or 0, f.column or 0))
    return int((finite & ~bad).sum()), findings


def _at(
    check: Check,
    reason: str,
    row: int | np.integer,
    column: int | None,
    ndim: int,
    days: DayArray | None,
    field: str,
    value: float,
) -> Finding:
    day = _day(days[row]) if days is not None else None
    return Finding(check, reason, int(row), column if ndim == 2 else None, day, field, value)


def _column(index: tuple[int, ...]) -> int | None:
    return int(index[1]) if len(index) == 2 else None


def _day(value: object) -> date:
    day = np.asarray(value, dtype="datetime64[D]").item()
    if not isinstance(day, date):  # numpy gives an int for days outside datetime.date's years 1..9999
        raise ValueError(f"{value} is outside the years 1..9999")
    return day
