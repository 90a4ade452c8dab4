"""The daily-loss circuit breaker: which bots to stop today, and why.

This module owns one decision: given each bot's day-start equity and its P&L since the start of the day
(realised plus unrealised, account currency), which bots must stop. It decides; it never stops anything
itself, and it never raises on odd numbers (only on arrays of mismatched shape, a programming error).

- Scope ``bots`` (default): a bot stops when its own daily loss reaches the limit (10 % by default), i.e.
  ``daily_pnl <= -limit % of its day-start equity``. A loss of exactly 10.00 % stops it (to 12
  significant digits, so float rounding of decimal amounts cannot let it through): at the limit the
  breaker errs on the safe side. Other bots keep running.
- Scope ``all``: every bot stops when the portfolio's daily loss (summed P&L over summed day-start equity)
  reaches the limit; individual losers below it keep running, since the operator chose portfolio scope.

Fail closed: a bot whose P&L is not finite or whose day-start equity is not a positive finite number
cannot be measured, so it is stopped with that reason. Under scope ``all`` the portfolio cannot be
measured either, and every bot stops.

Pure: no I/O, no clock (the caller decides when a day starts), imports nothing from the rest of the project.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# Money is decimal but held in binary floats: -0.29 on 2.90 is 10 % exactly, yet -100 * -0.29 comes out as
# 28.999999999999996. A loss equal to the limit to 12 significant digits counts as reaching it (safe side).
_AT_LIMIT = 1.0 - 1e-12


class BreakerScope(StrEnum):
    BOTS = "bots"  # stop only the bots whose own daily loss reached the limit
    ALL = "all"  # stop every bot once the portfolio's daily loss reached the limit


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """The limit in percent of day-start equity (10.0 = 10 %) and what it applies to."""

    daily_loss_limit_pct: float = 10.0
    scope: BreakerScope = BreakerScope.BOTS

    def __post_init__(self) -> None:
        if not (math.isfinite(self.daily_loss_limit_pct) and self.daily_loss_limit_pct > 0):
            raise ValueError(f"daily_loss_limit_pct must be a positive finite percent, got {self.daily_loss_limit_pct}")
        BreakerScope(self.scope)  # raises ValueError on an unknown scope


@dataclass(frozen=True, slots=True)
class BotStop:
    """One bot to stop. ``daily_loss_pct`` is its loss in percent of day-start equity (positive = a loss,
    NaN when it cannot be measured); ``reason`` says which limit it hit, in words for the audit log."""

    bot_id: str
    daily_pnl: float  # account currency
    day_start_equity: float  # account currency
    daily_loss_pct: float
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    """The breaker's verdict. ``portfolio_loss_pct`` is the portfolio's daily loss in percent of its
    day-start equity (positive = a loss; NaN when any bot cannot be measured)."""

    scope: BreakerScope
    daily_loss_limit_pct: float
    portfolio_loss_pct: float
    stops: tuple[BotStop, ...]

    @property
    def tripped(self) -> bool:
        return bool(self.stops)

    @property
    def stopped_ids(self) -> tuple[str, ...]:
        return tuple(stop.bot_id for stop in self.stops)


def check_daily_loss(
    bot_ids: Sequence[str],
    day_start_equity: npt.ArrayLike,
    daily_pnl: npt.ArrayLike,
    settings: BreakerSettings = BreakerSettings(),
) -> BreakerDecision:
    """Which bots to stop, in input order. ``day_start_equity`` and ``daily_pnl`` are ``(bots,)`` arrays in
    account currency.

    Raises ``ValueError`` only when the arrays do not match ``bot_ids`` in shape.
    """
    ids = tuple(bot_ids)
    equity = np.asarray(day_start_equity, dtype=np.float64)
    pnl = np.asarray(daily_pnl, dtype=np.float64)
    if equity.shape != (len(ids),) or pnl.shape != (len(ids),):
        raise ValueError(
            f"day_start_equity and daily_pnl must be ({len(ids)},) like bot_ids, got {equity.shape}, {pnl.shape}"
        )
    limit = settings.daily_loss_limit_pct
    measurable = np.isfinite(pnl) & np.isfinite(equity) & (equity > 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss_pct = np.where(measurable, -100.0 * pnl / equity, np.nan)
        reached = measurable & (-100.0 * pnl >= limit * equity * _AT_LIMIT)

    if measurable.all() and len(ids) > 0:
        portfolio_loss_pct = float(-100.0 * pnl.sum() / equity.sum())
        portfolio_reached = bool(-100.0 * pnl.sum() >= limit * equity.sum() * _AT_LIMIT)
    else:
        portfolio_loss_pct = math.nan if len(ids) > 0 else 0.0
        portfolio_reached = False

    reasons: list[str | None]
    if settings.scope is BreakerScope.BOTS:
        reasons = [None] * len(ids)
        for i in np.flatnonzero(~measurable).tolist():
            reasons[i] = _unmeasurable(float(equity[i]), float(pnl[i]))
        for i in np.flatnonzero(reached).tolist():
            reasons[i] = f"daily loss {loss_pct[i]:.2f} % reached the {limit:g} % limit"
    elif math.isnan(portfolio_loss_pct):
        first_bad = int(np.argmin(measurable))
        why = _unmeasurable(float(equity[first_bad]), float(pnl[first_bad]))
        reasons = [f"portfolio daily loss cannot be measured ({ids[first_bad]}: {why})"] * len(ids)
    elif portfolio_reached:
        reasons = [f"portfolio daily loss {portfolio_loss_pct:.2f} % reached the {limit:g} % limit"] * len(ids)
    else:
        reasons = [None] * len(ids)

    stops = tuple(
        BotStop(bot_id=ids[i], daily_pnl=float(pnl[i]), day_start_equity=float(equity[i]),
                daily_loss_pct=float(loss_pct[i]), reason=reason)
        for i, reason in enumerate(reasons)
        if reason is not None
    )  # fmt: skip
    return BreakerDecision(
        scope=settings.scope, daily_loss_limit_pct=limit, portfolio_loss_pct=portfolio_loss_pct, stops=stops
    )


def _unmeasurable(equity: float, pnl: float) -> str:
    if not (math.isfinite(equity) and equity > 0):
        return f"day-start equity {equity} is not a positive finite number; stopped to fail closed"
    return f"daily P&L {pnl} is not finite; stopped to fail closed"
