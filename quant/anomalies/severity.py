"""The vocabulary every anomaly rule reports in: severities, rule names, evidence and per-rule scans.

This module owns how a rule's verdict is written down, not any rule itself (those live in
``quant.anomalies.bots`` and ``quant.anomalies.markets``). A rule evaluated over many subjects at once
returns a ``RuleScan``: arrays shaped ``(times, subjects)`` holding, per cell, the severity level reached
(0 = the rule did not fire), the measured value and the basis it was measured against. ``findings()``
turns the cells that fired into ``Finding`` records carrying their ``Evidence`` (the number, the threshold,
the window), so an alert always says what fired it.

Severities mean, for whoever reads them:

- ``LOW``: unusual, worth a look; no action implied.
- ``MEDIUM``: watch closely; the subject behaves outside its normal range.
- ``HIGH``: act soon (pause new entries, reduce exposure).
- ``CRITICAL``: act now (stop the bot, stop trading the symbol).

A ``Ladder`` maps a fired rule's magnitude to a severity: the base severity at the firing threshold, then
each step the magnitude reaches. Steps are compared the way the rule's threshold is (strictly for "more
than"/"above"/"beyond" rules, inclusively for "or more" rules).

Pure: no I/O, no clock, imports nothing from the rest of the project.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
LevelArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


class Severity(IntEnum):
    """Ordered: ``Severity.HIGH > Severity.MEDIUM``. The integer is the level stored in ``RuleScan.level``."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class Rule(StrEnum):
    """Every anomaly rule, named ``<subject kind>.<what fired>``."""

    TRADE_BURST = "bot.trade_burst"
    LOSS_STREAK = "bot.loss_streak"
    SLIPPAGE = "bot.slippage"
    API_ERRORS = "bot.api_error_rate"
    HEARTBEAT = "bot.heartbeat_missing"
    PRICE_MOVE = "market.price_move"
    VOLUME_SPIKE = "market.volume_spike"
    FUNDING = "market.funding_extreme"
    BOOK_IMBALANCE = "market.book_imbalance"


@dataclass(frozen=True, slots=True)
class Ladder:
    """Severity of a fired rule by magnitude: ``base`` at the threshold, then ``(level, severity)`` steps.

    ``steps`` are in the rule's own unit, ascending, with severities ascending and above ``base``. A fired
    cell gets the severity of the highest step its magnitude reaches, or ``base`` if it reaches none.
    """

    base: Severity
    steps: tuple[tuple[float, Severity], ...] = ()

    def __post_init__(self) -> None:
        levels = [level for level, _ in self.steps]
        severities = [self.base, *(severity for _, severity in self.steps)]
        if not all(math.isfinite(level) for level in levels):
            raise ValueError(f"ladder step levels must be finite, got {levels}")
        if any(b <= a for a, b in itertools.pairwise(levels)):
            raise ValueError(f"ladder step levels must be strictly ascending, got {levels}")
        if any(b <= a for a, b in itertools.pairwise(severities)):
            raise ValueError(f"ladder severities must rise above the base at every step, got {severities}")

    def grade(self, magnitude: FloatArray, fired: BoolArray, *, strict: bool) -> LevelArray:
        """Severity level per cell (0 where ``fired`` is false); ``strict`` compares steps with ``>``."""
        level = np.where(fired, np.int8(self.base), np.int8(0)).astype(np.int8)
        with np.errstate(invalid="ignore"):
            for step, severity in self.steps:
                reached = magnitude > step if strict else magnitude >= step
                level[fired & reached] = severity
        return level


@dataclass(frozen=True, slots=True)
class Evidence:
    """The numbers that fired a rule. ``value`` and ``threshold`` share ``unit``; ``fires_when`` states the
    comparison ("value > 20", "|value| >= 5").

    ``basis`` is what the value was measured against or over (described by ``basis_label``: the trades
    considered, the previous close, the trailing mean volume, ...); NaN where there is none.
    """

    value: float
    threshold: float
    fires_when: str
    unit: str
    window: str
    basis: float
    basis_label: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired on one subject (a bot id or a symbol) at one time (epoch seconds)."""

    rule: Rule
    subject: str
    at_s: float
    severity: Severity
    evidence: Evidence

    @property
    def summary(self) -> str:
        """One line for a log or an alert: what fired, on what, how badly, and the numbers."""
        e = self.evidence
        return (
            f"{self.severity.name} {self.rule.value} {self.subject}: {e.value:g} {e.unit} "
            f"(fires when {e.fires_when}; {e.window}; {e.basis_label} {e.basis:g})"
        )


@dataclass(frozen=True, slots=True)
class RuleScan:
    """One rule evaluated over ``(times, subjects)`` cells.

    ``level`` is the severity reached per cell (0 = not fired); ``value`` the measured magnitude in
    ``unit`` (NaN where undefined, e.g. no trades, a warm-up bar); ``basis`` what it was measured against.
    ``subjects`` label the columns and ``at_s`` (epoch seconds) the rows. ``strict`` says whether the rule
    fires above the threshold (``>``) or at it (``>=``); ``on_magnitude`` that it compares ``|value|``.
    """

    rule: Rule
    subjects: tuple[str, ...]
    at_s: FloatArray
    level: LevelArray
    value: FloatArray
    basis: FloatArray
    threshold: float
    strict: bool
    on_magnitude: bool
    unit: str
    window: str
    basis_label: str

    @property
    def fired(self) -> BoolArray:
        return self.level > 0

    @property
    def fires_when(self) -> str:
        subject = "|value|" if self.on_magnitude else "value"
        return f"{subject} {'>' if self.strict else '>='} {self.threshold:g}"

    def findings(self) -> list[Finding]:
        """The fired cells as findings, in time order, then subject order."""
        rows, columns = np.nonzero(self.level)
        at = self.at_s[rows].tolist()
        levels = self.level[rows, columns].tolist()
        values = self.value[rows, columns].tolist()
        bases = self.basis[rows, columns].tolist()
        severities = {int(s): s for s in Severity}
        fires_when = self.fires_when
        return [
            Finding(
                rule=self.rule,
                subject=self.subjects[column],
                at_s=t,
                severity=severities[level],
                evidence=Evidence(value, self.threshold, fires_when, self.unit, self.window, basis, self.basis_label),
            )
            for column, t, level, value, basis in zip(columns.tolist(), at, levels, values, bases, strict=True)
        ]
