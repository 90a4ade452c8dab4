"""Rebalancing proposals: the trades from current to target weights, and whether they are worth making.

This module owns the skip rule: a rebalance is proposed only when it raises the portfolio's expected
Sharpe ratio by at least ``min_relative_improvement`` (5 % by default) of the current one, because every
trade costs fees and slippage that the expected figures do not show. A skipped proposal still lists the
trades it would have made, with the reason it was skipped.

Weights are fractions of equity per asset (negative for a short); whatever the weights leave over is cash
earning the risk-free rate, so a partly invested book can be compared with a fully invested target.
Expected returns and the covariance are annualised fractions (see ``quant.portfolio.estimates``).
Turnover is one-way: half the sum of the absolute weight changes, cash included (0.1 = 10 % of equity
traded). A proposal never sends orders: callers route its trades through the risk guard.

Pure: no I/O, no clock; depends only on ``quant.portfolio.optimize``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.portfolio.optimize import DEFAULT_RISK_FREE_RATE, Portfolio, evaluate

DEFAULT_MIN_RELATIVE_IMPROVEMENT = 0.05  # a rebalance must lift the expected Sharpe ratio by 5 % of itself
_DUST = 1e-12  # weight changes this small are rounding, not trades


@dataclass(frozen=True, slots=True)
class WeightChange:
    """One asset's move, in fractions of equity: ``delta = to_weight - from_weight`` (> 0 buys)."""

    asset: str
    from_weight: float
    to_weight: float
    delta: float


@dataclass(frozen=True, slots=True)
class RebalanceProposal:
    """Current against target: the trades, their turnover, the expected figures before and after, the verdict."""

    rebalance: bool  # False: keep the current weights
    reason: str
    trades: tuple[WeightChange, ...]  # assets whose weight changes, in the order given
    turnover: float  # one-way, fraction of equity
    before: Portfolio  # the current weights' expected return, volatility and Sharpe ratio
    after: Portfolio  # the target's
    sharpe_improvement: float  # (after.sharpe - before.sharpe) / |before.sharpe|; ±inf from a Sharpe of 0


def propose_rebalance(
    assets: Sequence[str],
    current: npt.ArrayLike,
    target: npt.ArrayLike,
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    *,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
    min_relative_improvement: float = DEFAULT_MIN_RELATIVE_IMPROVEMENT,
) -> RebalanceProposal:
    """Compare ``current`` with ``target`` weights (fractions of equity, one per asset) and decide.

    Raises ``ValueError`` on mismatched lengths, duplicate asset names, non-finite weights or a negative
    or non-finite threshold.
    """
    names = list(assets)
    now = np.asarray(current, dtype=np.float64)
    goal = np.asarray(target, dtype=np.float64)
    n = len(names)
    if now.shape != (n,) or goal.shape != (n,):
        raise ValueError(f"{n} assets but current weights {now.shape} and target weights {goal.shape}")
    if len(set(names)) != n:
        raise ValueError(f"asset names must be unique, got {names}")
    if not (np.isfinite(now).all() and np.isfinite(goal).all()):
        raise ValueError("weights must be finite")
    if not (math.isfinite(min_relative_improvement) and min_relative_improvement >= 0.0):
        raise ValueError(f"min_relative_improvement must be a finite fraction >= 0, got {min_relative_improvement}")

    before = evaluate(now, expected_returns, cov, risk_free_rate)
    after = evaluate(goal, expected_returns, cov, risk_free_rate)
    delta = goal - now
    trades = tuple(
        WeightChange(name, float(a), float(b), float(d))
        for name, a, b, d in zip(names, now, goal, delta, strict=True)
        if abs(d) > _DUST
    )
    cash_delta = now.sum() - goal.sum()
    turnover = float((np.abs(delta).sum() + abs(cash_delta)) / 2.0)
    improvement = _relative_change(before.sharpe, after.sharpe)
    rebalance, reason = _verdict(trades, before.sharpe, after.sharpe, improvement, min_relative_improvement)
    return RebalanceProposal(rebalance, reason, trades, turnover, before, after, improvement)


def _relative_change(before: float, after: float) -> float:
    if before != 0.0:
        return (after - before) / abs(before)
    return 0.0 if after == before else math.copysign(math.inf, after - before)


def _verdict(
    trades: tuple[WeightChange, ...], before: float, after: float, improvement: float, threshold: float
) -> tuple[bool, str]:
    if not trades:
        return False, "the current weights already match the target"
    change = f"expected Sharpe ratio {before:.3f} -> {after:.3f} ({_percent(improvement)})"
    if improvement >= threshold:
        return True, f"{change}, at least the {threshold:.1%} improvement required"
    return False, f"{change}, short of the {threshold:.1%} improvement required to trade"


def _percent(change: float) -> str:
    if math.isinf(change):
        return "up from 0" if change > 0 else "down from 0"
    if math.isnan(change):
        return "change undefined"
    return f"{change:+.1%}"
