"""Provider failure tiers (AEGIS v3.1 section 4): how long a data or LLM provider has been failing, and what follows.

This module owns one decision: given the outcomes of calls to one provider, which tier the system is in at
``now``. It decides; it never fails over, reduces exposure or enters safe mode itself, and it never reads the
clock: every moment is a timezone-aware datetime passed in.

Tiers, by the duration of *continuous* failure, measured from the first failure of the current unbroken run of
failures to ``now`` (any success ends the run):

- below 30 s: ``NORMAL`` (failover to a secondary provider within 5 s happens elsewhere);
- from 30 s (inclusive; 30.000 s is ``REDUCING``): ``REDUCING``, reduce exposure;
- from 300 s (inclusive): ``SAFE_MODE``.

Decisions that must not be silently changed:
- Outcomes are taken in the order they are observed. A failure while already failing keeps the start of the
  run; a success ends it whatever its timestamp, so a success always returns ``NORMAL``.
- A ``now`` earlier than the start of the run counts as 0 s of failure (the failure had not happened yet).

Pure: no I/O, no clock, imports nothing from the project outside ``quant.tiers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from quant.tiers._common import check_seconds, elapsed_s, require_aware


class ProviderTier(StrEnum):
    NORMAL = "normal"  # failing for less than 30 s, or not failing
    REDUCING = "reducing"  # failing for 30 s or more: reduce exposure
    SAFE_MODE = "safe_mode"  # failing for 300 s or more

    @property
    def level(self) -> int:
        """Higher is more severe: NORMAL 0, REDUCING 1, SAFE_MODE 2."""
        return _LEVEL[self]


_LEVEL = {tier: level for level, tier in enumerate(ProviderTier)}


@dataclass(frozen=True, slots=True)
class ProviderThresholds:
    """Durations of continuous failure in seconds; both are inclusive ("from 30 s")."""

    reducing_from_s: float = 30.0
    safe_mode_from_s: float = 300.0

    def __post_init__(self) -> None:
        check_seconds("reducing_from_s", self.reducing_from_s)
        check_seconds("safe_mode_from_s", self.safe_mode_from_s)
        if self.reducing_from_s > self.safe_mode_from_s:
            raise ValueError(f"need reducing_from_s <= safe_mode_from_s, got {self}")


def provider_tier(failing_for_s: float, thresholds: ProviderThresholds = ProviderThresholds()) -> ProviderTier:
    """The tier after ``failing_for_s`` seconds of continuous failure. A NaN duration is ``SAFE_MODE`` (fail closed).

    Pass 0.0 for a provider that is not failing.
    """
    if math.isnan(failing_for_s) or failing_for_s >= thresholds.safe_mode_from_s:
        return ProviderTier.SAFE_MODE
    if failing_for_s >= thresholds.reducing_from_s:
        return ProviderTier.REDUCING
    return ProviderTier.NORMAL


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """One provider's failure run. ``failing_since`` is the first failure of the current run; None when the
    last observed call succeeded (or none was observed yet)."""

    failing_since: datetime | None = None

    def __post_init__(self) -> None:
        if self.failing_since is not None:
            require_aware(self.failing_since, "failing_since")

    def observe(self, ok: bool, at: datetime) -> ProviderHealth:
        """The health after one call outcome observed at ``at``: a success ends the run, a failure starts one
        (or continues the current one, keeping its start)."""
        require_aware(at, "at")
        if ok:
            return ProviderHealth()
        return self if self.failing_since is not None else ProviderHealth(failing_since=at)

    def failing_for_s(self, now: datetime) -> float:
        """Seconds of continuous failure at ``now``: 0.0 when not failing."""
        require_aware(now, "now")
        return 0.0 if self.failing_since is None else elapsed_s(self.failing_since, now)

    def tier(self, now: datetime, thresholds: ProviderThresholds = ProviderThresholds()) -> ProviderTier:
        """The tier at ``now``; always ``NORMAL`` when the provider is not failing (thresholds are positive)."""
        return provider_tier(self.failing_for_s(now), thresholds)
