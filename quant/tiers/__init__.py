"""Failure tiers and alert conditions of AEGIS v3.1 sections 4 and 6.2, as pure functions of (signals, time).

This package owns deciding which tier a failure is in and whether an alert condition holds, with the figures
that made it hold. It never acts on a tier (failover, cancelling, closing, halting, alerting are the callers'),
never reads the clock (every moment is a timezone-aware datetime passed in), never prints and does no I/O.
State that must outlive one call is a small immutable value the caller keeps and replaces.

- ``provider``: continuous provider failure -> NORMAL, REDUCING (from 30 s), SAFE_MODE (from 5 min).
- ``feed``: heartbeat gap -> NORMAL (<= 3 s), CACHED (over 3 s), CANCEL_AND_CLOSE (over 10 s), HALT (over 30 s,
  latched until reset); the watch remembers an outage's worst tier.
- ``losses``: stop-loss streak (3 -> defensive), loss per minute (1 % in 60 s), day drawdown (5 % -> emergency),
  a position down 2 %, 80 % of the daily P&L target.
- ``streaks``: a stage SLA missed twice in a row, three system errors in a row.
- Price mismatches between two sources (ignore / ask the validator / halt) are ``quant.data_quality``'s and are
  re-exported here unchanged, so every tier of section 4 can be found in one place.

Imports nothing from the project outside ``quant``.
"""

from quant.data_quality import MismatchThresholds, MismatchTier, PriceMismatch, classify_mismatch
from quant.tiers.feed import FeedOutage, FeedReading, FeedThresholds, FeedTier, FeedWatch, feed_tier
from quant.tiers.losses import (
    STOP_LOSS,
    DayDrawdown,
    LossThresholds,
    MinuteLoss,
    PositionWarning,
    TargetProgress,
    daily_target_progress,
    day_drawdown,
    forces_defensive,
    loss_per_minute,
    position_warnings,
    stop_loss_streak,
)
from quant.tiers.provider import ProviderHealth, ProviderThresholds, ProviderTier, provider_tier
from quant.tiers.streaks import (
    StreakThresholds,
    error_streak_reached,
    errors_in_a_row,
    sla_misses_in_a_row,
    stages_missing_sla,
    trailing_run,
)

__all__ = [
    "STOP_LOSS",
    "DayDrawdown",
    "FeedOutage",
    "FeedReading",
    "FeedThresholds",
    "FeedTier",
    "FeedWatch",
    "LossThresholds",
    "MinuteLoss",
    "MismatchThresholds",
    "MismatchTier",
    "PositionWarning",
    "PriceMismatch",
    "ProviderHealth",
    "ProviderThresholds",
    "ProviderTier",
    "StreakThresholds",
    "TargetProgress",
    "classify_mismatch",
    "daily_target_progress",
    "day_drawdown",
    "error_streak_reached",
    "errors_in_a_row",
    "feed_tier",
    "forces_defensive",
    "loss_per_minute",
    "position_warnings",
    "provider_tier",
    "sla_misses_in_a_row",
    "stages_missing_sla",
    "stop_loss_streak",
    "trailing_run",
]
