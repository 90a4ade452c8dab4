"""Loss conditions (AEGIS v3.1 section 6.2): stop-loss streaks, loss per minute, the day's drawdown, a losing
position, the daily P&L target.

This module owns measuring each condition and saying whether it holds, with the figures that made it hold. It
decides; it never changes the posture, halts, or raises an alert itself (the caller maps each condition to its
action and alert level), and it never reads the clock: ``now`` is a timezone-aware datetime passed in.
Percentages are in percent (1.0 = 1 %); money is in account currency.

Conditions, each threshold inclusive ("from"):

- Stop-loss streak: the number of trailing exits whose reason is ``"stop_loss"``; from 3 the defensive
  posture is forced.
- Loss per minute: the peak equity among the samples of the trailing 60 s (``now - 60 s <= t <= now``: a
  sample exactly 60 s old counts, older ones and ones after ``now`` are ignored) minus the latest of them, in
  percent of that peak; breached from 1.0 %. No sample in the window: nothing measured, 0.0.
- Day drawdown: ``(day_start_equity - equity) / day_start_equity`` in percent (negative on a gain). No new
  entries from 3 % is the risk guard's rule (``quant.risk_guard.RiskLimits.daily_loss_limit_pct``), not
  repeated here; from 5 % an emergency halt.
- Losing position (long positions, per symbol): ``(mark - avg_price) / avg_price`` in percent; a warning from
  -2 % (i.e. at -2.0 % or below).
- Daily P&L target: the day's P&L in percent of a configured target; informed from 80 %. No target (None):
  never.

Decisions that must not be silently changed:
- At the limit means at the limit to 12 significant digits (as ``quant.circuit_breaker``), so float rounding of
  decimal money cannot slip a loss of exactly 1 % (or 2 %, 5 %) under its threshold.
- Fail closed: a loss that cannot be measured (an equity or price that is not finite, a base that is not
  positive) is reported as NaN *and* as breached, never as "no loss".

Pure: no I/O, no clock, imports nothing from the project outside ``quant.tiers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from quant.tiers._common import check_count, check_pct, check_seconds, reaches_pct, require_aware
from quant.tiers.streaks import trailing_run

STOP_LOSS = "stop_loss"  # the exit reason of a stop-loss fill (``FillReason.STOP_LOSS`` compares equal)


@dataclass(frozen=True, slots=True)
class LossThresholds:
    """Each threshold is inclusive; percentages in percent (1.0 = 1 %), the window in seconds."""

    defensive_after_stop_losses: int = 3
    loss_per_minute_pct: float = 1.0
    loss_window_s: float = 60.0
    emergency_drawdown_pct: float = 5.0
    position_warning_pct: float = 2.0  # a loss of this much of the average price
    target_info_pct: float = 80.0  # share of the daily P&L target

    def __post_init__(self) -> None:
        check_count("defensive_after_stop_losses", self.defensive_after_stop_losses)
        check_seconds("loss_window_s", self.loss_window_s)
        for name in ("loss_per_minute_pct", "emergency_drawdown_pct", "position_warning_pct", "target_info_pct"):
            check_pct(name, getattr(self, name))


# --- stop-loss streak ----------------------------------------------------------------------------------


def stop_loss_streak(exit_reasons: Sequence[str]) -> int:
    """How many of the latest exits (oldest first) in a row were stop-losses."""
    return trailing_run([reason == STOP_LOSS for reason in exit_reasons])


def forces_defensive(exit_reasons: Sequence[str], thresholds: LossThresholds = LossThresholds()) -> bool:
    """True from ``defensive_after_stop_losses`` (3) stop-loss exits in a row."""
    return stop_loss_streak(exit_reasons) >= thresholds.defensive_after_stop_losses


# --- loss per minute -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinuteLoss:
    """The drop over the trailing window. ``loss_pct`` is ``(peak_equity - equity) / peak_equity`` in percent
    (0.0 with ``peak_at`` None when no sample fell in the window; NaN when it cannot be measured)."""

    loss_pct: float
    peak_equity: float
    equity: float
    peak_at: datetime | None
    breached: bool


def loss_per_minute(
    samples: Sequence[tuple[datetime, float]], now: datetime, thresholds: LossThresholds = LossThresholds()
) -> MinuteLoss:
    """The largest drop within the window of ``loss_window_s`` (60 s) ending at ``now``.

    ``samples`` are ``(time, equity)`` pairs in any order; of two samples at the same time the later one in
    ``samples`` is the current equity.
    """
    require_aware(now, "now")
    start = now - timedelta(seconds=thresholds.loss_window_s)
    window = [(t, equity) for t, equity in samples if start <= _aware(t) <= now]
    if not window:
        return MinuteLoss(0.0, math.nan, math.nan, None, breached=False)
    current_t, equity = window[0]
    for t, value in window[1:]:
        if t >= current_t:
            current_t, equity = t, value
    if not all(math.isfinite(value) for _, value in window):
        return MinuteLoss(math.nan, math.nan, equity, None, breached=True)
    peak_at, peak = max(window, key=lambda sample: sample[1])
    if peak <= 0.0:
        return MinuteLoss(math.nan, peak, equity, peak_at, breached=True)
    drop = peak - equity
    loss_pct = 100.0 * drop / peak
    return MinuteLoss(loss_pct, peak, equity, peak_at, breached=reaches_pct(drop, thresholds.loss_per_minute_pct, peak))


def _aware(t: datetime) -> datetime:
    require_aware(t, "sample time")
    return t


# --- day drawdown --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayDrawdown:
    """``drawdown_pct``: the loss since the day's start in percent of day-start equity (negative on a gain, NaN
    when it cannot be measured). ``emergency``: from ``emergency_drawdown_pct`` (5 %) on, or unmeasurable."""

    drawdown_pct: float
    emergency: bool


def day_drawdown(day_start_equity: float, equity: float, thresholds: LossThresholds = LossThresholds()) -> DayDrawdown:
    """The day's drawdown and whether it calls for the emergency halt."""
    if not (math.isfinite(day_start_equity) and day_start_equity > 0.0 and math.isfinite(equity)):
        return DayDrawdown(math.nan, emergency=True)
    drop = day_start_equity - equity
    emergency = reaches_pct(drop, thresholds.emergency_drawdown_pct, day_start_equity)
    return DayDrawdown(100.0 * drop / day_start_equity, emergency)


# --- losing positions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionWarning:
    """One position at or past the warning loss. ``return_pct`` is ``(mark - avg_price) / avg_price`` in
    percent (NaN when a price is not a positive finite number); ``reason`` says which, for the alert."""

    symbol: str
    avg_price: float
    mark: float
    return_pct: float
    reason: str


def position_warnings(
    symbols: Sequence[str],
    avg_price: npt.ArrayLike,
    mark: npt.ArrayLike,
    thresholds: LossThresholds = LossThresholds(),
) -> tuple[PositionWarning, ...]:
    """The long positions down ``position_warning_pct`` (2 %) or more from their average price, in input order.

    ``avg_price`` and ``mark`` are ``(positions,)`` arrays. Raises ``ValueError`` only on mismatched shapes.
    """
    names = tuple(symbols)
    avg = np.asarray(avg_price, dtype=np.float64)
    last = np.asarray(mark, dtype=np.float64)
    if avg.shape != (len(names),) or last.shape != (len(names),):
        raise ValueError(f"avg_price and mark must be ({len(names)},) like symbols, got {avg.shape}, {last.shape}")
    limit = thresholds.position_warning_pct
    warnings = []
    for symbol, a, m in zip(names, avg.tolist(), last.tolist(), strict=True):
        if not (math.isfinite(a) and a > 0.0 and math.isfinite(m) and m > 0.0):
            reason = f"prices avg {a} / mark {m} are not positive finite numbers; warned to fail closed"
            warnings.append(PositionWarning(symbol, a, m, math.nan, reason))
        elif reaches_pct(a - m, limit, a):
            return_pct = 100.0 * (m - a) / a
            reason = f"{symbol} is {return_pct:+.2f} % from its average price, at or past -{limit:g} %"
            warnings.append(PositionWarning(symbol, a, m, return_pct, reason))
    return tuple(warnings)


# --- daily P&L target ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetProgress:
    """``share_pct``: the day's P&L in percent of the target (None without a target). ``reached``: from
    ``target_info_pct`` (80 %) on; never without a target or with a P&L that is not finite."""

    share_pct: float | None
    reached: bool


def daily_target_progress(
    day_pnl: float, target: float | None, thresholds: LossThresholds = LossThresholds()
) -> TargetProgress:
    """How far the day's P&L (account currency) is toward ``target`` (a positive amount, or None for none).

    Raises ``ValueError`` on a target that is not a positive finite amount (a configuration error).
    """
    if target is None:
        return TargetProgress(None, reached=False)
    if not (math.isfinite(target) and target > 0.0):
        raise ValueError(f"target must be a positive finite amount or None, got {target}")
    reached = math.isfinite(day_pnl) and reaches_pct(day_pnl, thresholds.target_info_pct, target)
    return TargetProgress(100.0 * day_pnl / target, reached)
