"""Markowitz portfolios under per-asset bounds: the three risk profiles, return and risk targets, the frontier.

This module owns what each risk profile means when it becomes weights:

- ``conservative``: the minimum-variance portfolio;
- ``moderate``: the maximum-Sharpe portfolio, ``(return - risk_free_rate) / volatility``;
- ``aggressive``: the maximum-expected-return portfolio (a linear programme).

Every portfolio is fully invested (weights sum to 1) and keeps each weight within its bounds, by default
5 %..40 % of capital per asset (which needs between 3 and 20 assets); any finite bounds work, including
shorting such as ``(-1, 1)``. Expected returns and the covariance are annualised fractions (see
``quant.portfolio.estimates``), and so is everything returned. The solutions are exact (see
``quant.portfolio.frontier``); there is no solver tolerance and no random start. Inputs that admit no
answer (bounds that cannot sum to 1, a target return above the maximum, a target volatility below the
minimum, no portfolio beating the risk-free rate) raise ``ValueError`` saying which.

Pure: no I/O, no clock; depends only on ``quant.portfolio.frontier``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from quant.portfolio.frontier import (
    EfficientSegment,
    MeanVarianceInputs,
    check_inputs,
    efficient_path,
    locate,
    weights_where,
)

FloatArray = npt.NDArray[np.float64]
Bounds = tuple[npt.ArrayLike, npt.ArrayLike]  # (lower, upper) weights: one value for all assets, or one each

DEFAULT_BOUNDS: Bounds = (0.05, 0.40)
DEFAULT_RISK_FREE_RATE = 0.02  # annual, fraction
_TARGET_SLACK = 1e-12  # how far past the feasible range a target may be and still be taken as its end


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Weights and their annualised figures.

    ``weights`` are fractions of capital per asset (negative for a short); capital not in the weights
    (``1 - sum(weights)``) is cash earning ``risk_free_rate``. ``expected_return`` and ``volatility`` are
    annualised fractions; ``sharpe = (expected_return - risk_free_rate) / volatility``.
    """

    weights: FloatArray
    expected_return: float
    volatility: float
    sharpe: float
    risk_free_rate: float


class RiskProfile(StrEnum):
    CONSERVATIVE = "conservative"  # minimum variance
    MODERATE = "moderate"  # maximum Sharpe ratio
    AGGRESSIVE = "aggressive"  # maximum expected return


def evaluate(
    weights: npt.ArrayLike,
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The annualised return, volatility and Sharpe ratio of ``weights`` (any weights; the rest is cash).

    A portfolio with no risk has Sharpe 0 when it earns the risk-free rate, NaN otherwise.
    """
    w = np.asarray(weights, dtype=np.float64)
    mu = np.asarray(expected_returns, dtype=np.float64)
    sigma = np.asarray(cov, dtype=np.float64)
    expected_return = float(w @ mu + (1.0 - w.sum()) * risk_free_rate)
    volatility = math.sqrt(max(float(w @ sigma @ w), 0.0))
    excess = expected_return - risk_free_rate
    riskless_sharpe = 0.0 if excess == 0.0 else math.nan
    sharpe = excess / volatility if volatility > 0.0 else riskless_sharpe
    return Portfolio(w, expected_return, volatility, sharpe, risk_free_rate)


def min_variance(
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The fully invested portfolio of least volatility within ``bounds`` (the conservative profile)."""
    inputs = _inputs(expected_returns, cov, bounds)
    return _portfolio(inputs, locate(inputs, _path_start), risk_free_rate)


def max_sharpe(
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The fully invested portfolio of highest Sharpe ratio within ``bounds`` (the moderate profile).

    Raises ``ValueError`` when no feasible portfolio's expected return exceeds ``risk_free_rate``.
    """
    inputs = _inputs(expected_returns, cov, bounds)
    if inputs.max_return <= risk_free_rate:
        raise ValueError(
            f"no feasible portfolio's expected return exceeds the risk-free rate {risk_free_rate:.6g} "
            f"(the highest is {inputs.max_return:.6g}), so the Sharpe ratio has no maximum"
        )
    return _portfolio(inputs, locate(inputs, functools.partial(_sharpe_peak, risk_free_rate)), risk_free_rate)


def max_return(
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The fully invested portfolio of highest expected return within ``bounds`` (the aggressive profile).

    Every asset gets its lower bound and the rest goes to the highest expected returns first, each up to
    its upper bound; among equal expected returns the earlier asset is filled first.
    """
    inputs = _inputs(expected_returns, cov, bounds)
    return _portfolio(inputs, inputs.max_return_weights, risk_free_rate)


def efficient_return(
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    target_return: float,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The least-volatile portfolio whose expected return is at least ``target_return`` (annual fraction).

    A target below the minimum-variance portfolio's return gives that portfolio. Raises ``ValueError`` when
    the target is above the highest return the bounds allow.
    """
    inputs = _inputs(expected_returns, cov, bounds)
    highest = inputs.max_return
    if not target_return <= highest + _TARGET_SLACK * max(1.0, abs(highest)):
        raise ValueError(
            f"target return {target_return:.6g} is above the maximum achievable {highest:.6g} under these bounds"
        )
    weights = locate(inputs, functools.partial(_return_crossing, target_return))
    return _portfolio(inputs, weights, risk_free_rate)


def efficient_risk(
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    target_volatility: float,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The highest-return portfolio whose volatility is at most ``target_volatility`` (annual fraction).

    A target above the maximum-return portfolio's volatility gives that portfolio. Raises ``ValueError``
    when the target is below the minimum volatility the bounds allow.
    """
    inputs = _inputs(expected_returns, cov, bounds)
    target_variance = target_volatility * abs(target_volatility)
    portfolio = _portfolio(
        inputs, locate(inputs, functools.partial(_variance_crossing, target_variance)), risk_free_rate
    )
    # Only a target below the minimum lands (at the minimum-variance portfolio) above the target.
    if not portfolio.volatility <= target_volatility * (1.0 + _TARGET_SLACK):
        raise ValueError(
            f"target volatility {target_volatility:.6g} is below the minimum achievable "
            f"{portfolio.volatility:.6g} under these bounds"
        )
    return portfolio


def efficient_frontier(
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    n_points: int = 20,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> tuple[Portfolio, ...]:
    """``n_points`` efficient portfolios at evenly spaced expected returns, minimum variance to maximum return.

    Between two turning points of the path the efficient weights are linear in the target return, so the
    whole frontier costs one walk of the path.
    """
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2 (the two ends), got {n_points}")
    inputs = _inputs(expected_returns, cov, bounds)
    segments = list(efficient_path(inputs))
    lowest = segments[0].return_at(segments[0].t_start)
    targets = np.linspace(lowest, segments[-1].return_base, n_points)
    return tuple(
        _portfolio(inputs, weights_where(segments, functools.partial(_return_crossing, float(target))), risk_free_rate)
        for target in targets
    )


_PROFILES: Mapping[RiskProfile, Callable[..., Portfolio]] = {
    RiskProfile.CONSERVATIVE: min_variance,
    RiskProfile.MODERATE: max_sharpe,
    RiskProfile.AGGRESSIVE: max_return,
}


def optimize_for_profile(
    profile: RiskProfile | str,
    expected_returns: npt.ArrayLike,
    cov: npt.ArrayLike,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
) -> Portfolio:
    """The portfolio for a risk profile: conservative, moderate or aggressive (see the module docstring)."""
    optimiser = _PROFILES[RiskProfile(profile)]
    return optimiser(expected_returns, cov, bounds=bounds, risk_free_rate=risk_free_rate)


def _inputs(expected_returns: npt.ArrayLike, cov: npt.ArrayLike, bounds: Bounds) -> MeanVarianceInputs:
    lower, upper = bounds
    return check_inputs(expected_returns, cov, lower, upper)


def _portfolio(inputs: MeanVarianceInputs, weights: FloatArray, risk_free_rate: float) -> Portfolio:
    return evaluate(weights, inputs.expected_returns, inputs.cov, risk_free_rate)


# Targets for ``frontier.locate``: where on a segment's line (from its start on) the wanted portfolio lies.


def _path_start(segment: EfficientSegment) -> float:
    return segment.t_start


def _sharpe_peak(risk_free_rate: float, segment: EfficientSegment) -> float | None:
    """Where the Sharpe ratio peaks on ``segment``'s line, or None when it rises all along it.

    With excess return ``a + b t`` and variance ``q(t) = v0 + 2 v1 t + v2 t²``, the derivative of the Sharpe
    ratio has the sign of ``h(t) = b q(t) - (a + b t)(v1 + v2 t) = (b v0 - a v1) + (b v1 - a v2) t``, which
    is linear; along the efficient path the Sharpe ratio is unimodal, so its peak is where ``h`` turns
    non-positive.
    """
    a, b = segment.return_base - risk_free_rate, segment.return_slope
    if b <= 0.0:  # a flat stretch (one free weight): the Sharpe ratio does not change along it
        return None
    h0 = b * segment.variance_base - a * segment.variance_cross
    h1 = b * segment.variance_cross - a * segment.variance_slope
    if h0 + h1 * segment.t_start <= 0.0:
        return segment.t_start
    return -h0 / h1 if h1 < 0.0 else None


def _return_crossing(target_return: float, segment: EfficientSegment) -> float | None:
    """Where ``segment``'s line first reaches ``target_return``; None when it never does."""
    if segment.return_at(segment.t_start) >= target_return:
        return segment.t_start
    if segment.return_slope > 0.0:
        return (target_return - segment.return_base) / segment.return_slope
    return None


def _variance_crossing(target_variance: float, segment: EfficientSegment) -> float | None:
    """Where the variance on ``segment``'s line rises to ``target_variance``; None when it never does."""
    if segment.variance_at(segment.t_start) >= target_variance:
        return segment.t_start
    v0, v1, v2 = segment.variance_base, segment.variance_cross, segment.variance_slope
    if v2 <= 0.0:
        return None
    return (-v1 + math.sqrt(max(v1 * v1 - v2 * (v0 - target_variance), 0.0))) / v2
