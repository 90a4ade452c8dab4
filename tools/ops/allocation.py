"""The allocation of the account across bots: each bot's return history, and the rebalancing proposal.

This module owns turning the bots' day-start marks (`state.bots.BotDay`) into daily returns on their
sleeves, and the proposal that compares the current allocation with the optimiser's at a risk level. It
decides; applying an allocation is `tools.ops.bots.BotControl.set_allocations`' job (the rebalancing flow
calls both). The CLI, the REST API and the workflow call the same functions.

Decisions that must not be silently changed:
- A bot's return on day d is its P&L from d's start to the next day's start over its sleeve at d's start
  (allocation x the account's equity): a return on the capital it was given, so a re-allocation is not a
  return. Only days on which every bot has a return are used.
- The proposal follows the seeds: bounds 5-40 % per bot; conservative = minimum variance, moderate =
  maximum Sharpe, aggressive = maximum expected return; applied only when the expected Sharpe ratio
  improves by at least 5 % of the current one (`quant.portfolio.propose_rebalance`).
- The risk-free rate defaults to 0: a sleeve's idle capital is the paper account's cash, which earns
  nothing, so 0 is the rate its return competes with.
- A proposal that cannot be made (too little history, bounds no allocation fits, an optimiser that has no
  answer) is a skip with the reason: the allocation stays as it is (fail closed).
- Only running bots are allocated: a stopped bot keeps its allocation (its stop may end, and it may still
  hold positions) and takes no part in the proposal, so its idle history does not block it; the running
  bots share the rest of the equity in the optimiser's proportions (the bounds apply to those proportions).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from quant.portfolio import (
    RebalanceProposal,
    RiskProfile,
    mean_historical_return,
    optimize_for_profile,
    propose_rebalance,
    sample_covariance,
)
from state.bots import Bot, BotDay

FloatArray = npt.NDArray[np.float64]


class RebalanceConfig(BaseModel):
    """When and how the allocation across bots is reconsidered (`Settings.rebalance`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str = Field("weekly", pattern="^(weekly|monthly|off)$", description="When REBALANCING_DUE is emitted")
    risk_level: RiskProfile = Field(RiskProfile.MODERATE, description="conservative | moderate | aggressive")
    min_sharpe_improvement: float = Field(0.05, ge=0, description="Relative Sharpe improvement needed to apply")
    min_allocation: float = Field(0.05, ge=0, le=1, description="Each bot's lowest share of equity")
    max_allocation: float = Field(0.40, gt=0, le=1, description="Each bot's highest share of equity")
    risk_free_rate: float = Field(0.0, description="Annual; 0: a sleeve's idle cash earns nothing")
    min_history_days: int = Field(20, ge=2, description="Daily returns needed before a proposal is made")
    lookback_days: int = Field(252, ge=2, description="Daily returns used, newest first")

    @model_validator(mode="after")
    def _ordered_bounds(self) -> RebalanceConfig:
        if self.min_allocation > self.max_allocation:
            raise ValueError(f"min_allocation {self.min_allocation} is above max_allocation {self.max_allocation}")
        if self.lookback_days < self.min_history_days:
            raise ValueError(
                f"lookback_days {self.lookback_days} is below min_history_days {self.min_history_days}: "
                "every rebalance would be skipped"
            )
        return self


@dataclass(frozen=True, slots=True)
class BotReturns:
    """Daily returns on each bot's sleeve: ``returns[t, i]`` for bot ``bot_ids[i]`` over day ``days[t]``."""

    bot_ids: tuple[str, ...]
    days: tuple[date, ...]  # the day each return starts (its mark's day)
    returns: FloatArray
    ends: tuple[date, ...] = ()  # the day each return ends (the next mark's day)

    def growth_days(self) -> tuple[date, ...]:
        """The day of each row of `growth()`: the first start, then each end."""
        return (self.days[0], *self.ends) if self.days else ()

    def growth(self) -> FloatArray:
        """The returns as a price-like panel starting at 1 (what `quant.portfolio` estimates from)."""
        start = np.ones((1, len(self.bot_ids)))
        return np.vstack([start, np.cumprod(1.0 + self.returns, axis=0)])


@dataclass(frozen=True, slots=True)
class AllocationProposal:
    """The current allocation against the risk level's, and the verdict. `proposal` is None when none
    could be made; `reason` then says why."""

    bot_ids: tuple[str, ...]
    current: tuple[float, ...]
    risk_level: RiskProfile
    history_days: int
    proposal: RebalanceProposal | None
    reason: str
    share: float = 1.0  # the running bots' part of the equity (the stopped bots keep the rest)
    stopped: tuple[str, ...] = ()  # bots left out: stopped, they keep their allocation

    @property
    def apply(self) -> bool:
        return self.proposal is not None and self.proposal.rebalance

    @property
    def target(self) -> dict[str, float]:
        """The running bots' new allocations (the optimiser's proportions of their share of the equity)."""
        if self.proposal is None:
            return {}
        weights = self.proposal.after.weights
        return {bot: float(w) * self.share for bot, w in zip(self.bot_ids, weights, strict=True)}


def bot_returns(days: Sequence[BotDay], bot_ids: Sequence[str]) -> BotReturns:
    """Each bot's daily returns from its day-start marks; only days every bot has a return for."""
    ids = tuple(bot_ids)
    marks: dict[date, dict[str, BotDay]] = {}
    for mark in days:
        if mark.bot_id in ids:
            marks.setdefault(mark.day, {})[mark.bot_id] = mark
    ordered = sorted(marks)
    kept_days: list[date] = []
    ends: list[date] = []
    rows: list[list[float]] = []
    for day, following in itertools.pairwise(ordered):
        start, end = marks[day], marks[following]
        if any(bot not in start or bot not in end or not start[bot].sleeve > 0 for bot in ids):
            continue
        kept_days.append(day)
        ends.append(following)
        rows.append([(end[bot].pnl - start[bot].pnl) / start[bot].sleeve for bot in ids])
    returns = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(ids))
    return BotReturns(ids, tuple(kept_days), returns, tuple(ends))


def propose_allocation(bots: Sequence[Bot], days: Sequence[BotDay], config: RebalanceConfig) -> AllocationProposal:
    """The rebalancing proposal for the running ones of `bots` (all of the registry) at `config.risk_level`,
    from their marks; stopped bots keep their allocation."""
    running = [bot for bot in bots if bot.running]
    stopped = tuple(bot.bot_id for bot in bots if not bot.running)
    share = 1.0 - math.fsum(bot.allocation for bot in bots if not bot.running)
    ids = tuple(bot.bot_id for bot in running)
    current = tuple(bot.allocation for bot in running)
    history = bot_returns(days, ids)
    keep = -config.lookback_days
    history = BotReturns(ids, history.days[keep:], history.returns[keep:], history.ends[keep:])

    def skipped(reason: str) -> AllocationProposal:
        return AllocationProposal(ids, current, config.risk_level, len(history.days), None, reason, share, stopped)

    if len(ids) < 2:
        aside = f" ({len(stopped)} stopped, keeping their allocation)" if stopped else ""
        return skipped(f"{len(ids)} bot running{aside}: there is nothing to allocate across")
    if share <= 1e-9:
        return skipped("the stopped bots hold the whole allocation: there is nothing to allocate across")
    fits = _bounds_problem(len(ids), config.min_allocation, config.max_allocation)
    if fits is not None:
        return skipped(fits)
    if len(history.days) < config.min_history_days:
        have = len(history.days)
        return skipped(
            f"{have} day{'' if have == 1 else 's'} of returns, fewer than the {config.min_history_days} needed"
        )
    flat = [bot for bot, spread in zip(ids, np.ptp(history.returns, axis=0), strict=True) if not spread > 0]
    if flat:
        return skipped(
            f"{', '.join(flat)} had no return variation in the last {len(history.days)} days (no position, no "
            "fill): the optimiser cannot weigh a bot without risk"
        )
    growth = history.growth()
    try:
        expected = mean_historical_return(growth)
        cov = sample_covariance(growth)
        target = optimize_for_profile(
            config.risk_level,
            expected,
            cov,
            bounds=(config.min_allocation, config.max_allocation),
            risk_free_rate=config.risk_free_rate,
        )
        proposal = propose_rebalance(
            ids,
            tuple(w / share for w in current),  # the running bots' proportions, as the optimiser's sum to 1
            target.weights,
            expected,
            cov,
            risk_free_rate=config.risk_free_rate,
            min_relative_improvement=config.min_sharpe_improvement,
        )
    except ValueError as exc:
        return skipped(f"the optimiser has no {config.risk_level} allocation: {exc}")
    if not math.isfinite(proposal.before.sharpe) or not math.isfinite(proposal.after.sharpe):
        reason = f"Sharpe ratios not finite ({proposal.before.sharpe}, {proposal.after.sharpe}): nothing to compare"
        return skipped(reason)
    reason = proposal.reason + (f"; stopped, keeping their allocation: {', '.join(stopped)}" if stopped else "")
    return AllocationProposal(ids, current, config.risk_level, len(history.days), proposal, reason, share, stopped)


def _bounds_problem(n: int, lower: float, upper: float) -> str | None:
    """Why `n` bots cannot be allocated within [lower, upper] summing to 1, or None when they can."""
    if n * lower > 1.0 + 1e-12:
        return f"{n} bots at a {lower:.0%} minimum need {n * lower:.0%} of equity: no allocation fits the bounds"
    if n * upper < 1.0 - 1e-12:
        return f"{n} bots at a {upper:.0%} maximum reach only {n * upper:.0%} of equity: no allocation fits"
    return None
