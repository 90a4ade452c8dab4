"""Streak conditions (AEGIS v3.1 section 6.2): a stage SLA missed twice in a row, three system errors in a row.

This module owns counting how many of the latest outcomes in a row went wrong, and whether that count reached
its threshold. It decides; it never raises an alert itself (the caller raises WARNING for the SLA streak and
CRITICAL for the error streak), never reads the clock and holds no state: callers pass the outcomes, oldest first.

- SLA: a stage misses its SLA when its latency is *over* its warn threshold (strictly, as ``agents.stage``
  records a call as slow); a latency that is not a finite number (a timeout with nothing measured) is a miss.
  Each stage is judged on its own latencies: others in between neither break nor extend its streak. The
  condition holds from 2 misses in a row (inclusive). A stage without a warn threshold has no SLA to miss.
- Errors: the condition holds from 3 errors in a row (inclusive); any success ends the streak.

Pure: no I/O, no clock, imports nothing from the project outside ``quant.tiers``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quant.tiers._common import check_count, check_seconds


@dataclass(frozen=True, slots=True)
class StreakThresholds:
    """Counts in a row, both inclusive ("from 2 misses")."""

    sla_misses_in_a_row: int = 2
    errors_in_a_row: int = 3

    def __post_init__(self) -> None:
        check_count("sla_misses_in_a_row", self.sla_misses_in_a_row)
        check_count("errors_in_a_row", self.errors_in_a_row)


def trailing_run(flags: Sequence[bool]) -> int:
    """How many of the last ``flags`` in a row are true: ``[True, False, True, True]`` gives 2."""
    count = 0
    for flag in reversed(flags):
        if not flag:
            break
        count += 1
    return count


def sla_misses_in_a_row(latencies_s: Sequence[float], warn_s: float) -> int:
    """How many of one stage's latest latencies (seconds, oldest first) in a row were over ``warn_s``."""
    check_seconds("warn_s", warn_s)
    return trailing_run([not (math.isfinite(latency) and latency <= warn_s) for latency in latencies_s])


def stages_missing_sla(
    latencies: Sequence[tuple[str, float]],
    warn_s: Mapping[str, float],
    thresholds: StreakThresholds = StreakThresholds(),
) -> tuple[str, ...]:
    """The stages whose latest ``sla_misses_in_a_row`` latencies were all over their warn threshold.

    ``latencies`` are ``(stage, seconds)`` pairs, oldest first, stages interleaved; ``warn_s`` maps a stage to its
    warn threshold in seconds. Stages come back in the order they first appear; empty when none holds.
    """
    by_stage: dict[str, list[float]] = {}
    for stage, latency_s in latencies:
        by_stage.setdefault(stage, []).append(latency_s)
    return tuple(
        stage
        for stage, stage_latencies in by_stage.items()
        if stage in warn_s and sla_misses_in_a_row(stage_latencies, warn_s[stage]) >= thresholds.sla_misses_in_a_row
    )


def errors_in_a_row(outcomes_ok: Sequence[bool]) -> int:
    """How many of the latest outcomes (oldest first; True = ok) in a row were errors."""
    return trailing_run([not ok for ok in outcomes_ok])


def error_streak_reached(outcomes_ok: Sequence[bool], thresholds: StreakThresholds = StreakThresholds()) -> bool:
    """True from ``errors_in_a_row`` (3) trailing errors on."""
    return errors_in_a_row(outcomes_ok) >= thresholds.errors_in_a_row
