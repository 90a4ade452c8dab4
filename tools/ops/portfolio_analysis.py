"""Portfolio analysis on labelled data: a (dates x assets) pandas panel in, labelled figures and proposals out.

This module owns the labelled layer over ``quant.portfolio``, which takes and returns bare arrays: it checks
the panel, the current weights and the bounds, runs the scorecard, correlation, risk split and the three risk
profiles' optimisations on the panel's arrays, and puts the asset labels back on every result. Its only
arithmetic is dividing risk contributions by their sum, so every figure equals the numpy layer's on the same
arrays.

Decisions that must not be silently changed:
- Bounds that admit no fully invested portfolio, or exactly one (every weight pinned at equal weight), raise
  ``BoundsError`` before anything is estimated: an optimisation with a single feasible answer is none.
- A risk profile that cannot be solved (the moderate one when no portfolio beats the risk-free rate) becomes
  a ``Proposal`` with ``error`` set and no weights, and a note; the other profiles are still proposed.
- Unknown current weights are taken as equal weights, and ``notes`` says so.
- Every proposal carries the skip rule's verdict (``quant.portfolio.propose_rebalance``): rebalance only when
  the expected Sharpe ratio improves by at least ``min_relative_improvement`` of the current one.

Units: annualised fractions (0.12 = 12 %) with ``frequency`` periods a year; weights are fractions of capital.
Never prints, reads files or the clock: rendering belongs to the callers (``aegis portfolio``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from quant.portfolio import (
    DEFAULT_BOUNDS,
    DEFAULT_RISK_FREE_RATE,
    RiskProfile,
    asset_performance,
    correlation_matrix,
    diversification_ratio,
    evaluate,
    mean_historical_return,
    optimize_for_profile,
    propose_rebalance,
    risk_contributions,
    sample_covariance,
)
from quant.portfolio.estimates import TRADING_DAYS_PER_YEAR
from quant.portfolio.rebalance import DEFAULT_MIN_RELATIVE_IMPROVEMENT

FloatArray = npt.NDArray[np.float64]

BOUNDS = cast(tuple[float, float], DEFAULT_BOUNDS)  # (minimum, maximum) weight per asset: 5 %..40 %
SCORECARD_COLUMNS = ("roi", "annual_return", "annual_volatility", "sharpe", "sortino", "max_drawdown")
_EXACT = 1e-12  # how close n * bound must come to 100 % of capital to pin every weight


class BoundsError(ValueError):
    """Per-asset weight bounds that leave nothing to optimise: no fully invested portfolio fits, or only one."""


@dataclass(frozen=True, slots=True)
class ProposalFigures:
    """Expected figures of a set of weights: annualised fractions; ``sharpe`` uses the analysis' risk-free rate."""

    expected_return: float
    volatility: float
    sharpe: float


@dataclass(frozen=True, slots=True, eq=False)
class Proposal:
    """One risk profile's portfolio and the verdict on moving to it from the current weights.

    ``sharpe_improvement`` is relative to the current Sharpe ratio (0.05 = 5 % better); ``turnover`` is one-way,
    a fraction of capital. When the profile cannot be solved, ``error`` says why, ``weights`` is empty, the
    figures are NaN and ``rebalance`` is False.
    """

    profile: RiskProfile
    weights: pd.Series  # fraction of capital per asset, indexed like the panel's columns
    expected_return: float
    volatility: float
    sharpe: float
    sharpe_improvement: float
    rebalance: bool
    reason: str
    turnover: float
    error: str | None = None

    @property
    def solved(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True, eq=False)
class PortfolioAnalysis:
    """Everything ``analyse_portfolio`` found, every per-asset figure labelled by the panel's columns."""

    scorecard: pd.DataFrame  # asset x SCORECARD_COLUMNS, see quant.portfolio.analysis
    correlation: pd.DataFrame  # asset x asset, of simple returns
    expected_returns: pd.Series  # annual, compound (mean_historical_return)
    covariance: pd.DataFrame  # annual, sample (sample_covariance)
    current_weights: pd.Series
    risk_contributions: pd.Series  # the current weights' shares of risk, summing to 1 (< 0: a hedge)
    diversification_ratio: float  # of the current weights
    current: ProposalFigures
    proposals: Mapping[RiskProfile, Proposal]  # in the order the profiles were asked for
    bounds: tuple[float, float]
    risk_free_rate: float
    min_relative_improvement: float
    notes: tuple[str, ...]


def check_bounds(n_assets: int, bounds: tuple[float, float]) -> None:
    """Raise ``BoundsError`` unless ``bounds`` (minimum, maximum weight per asset) leave a choice of portfolios.

    No fully invested portfolio fits when ``n * minimum > 1`` or ``n * maximum < 1``; exactly one (equal
    weight) fits when either is 1 (within 1e-12).
    """
    if n_assets < 1:
        raise ValueError(f"a portfolio needs at least one asset, got {n_assets}")
    lower, upper = bounds
    span = f"the bounds {_percent(lower)}..{_percent(upper)}"
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise BoundsError(f"{span} must be finite")
    if lower > upper:
        raise BoundsError(f"no weight fits {span}: the minimum is above the maximum")
    least, most = n_assets * lower, n_assets * upper
    if least > 1.0 + _EXACT:
        raise BoundsError(
            f"{n_assets} assets at a {_percent(lower)} minimum need {_percent(least)} of capital: "
            f"no portfolio fits {span}"
        )
    if most < 1.0 - _EXACT:
        raise BoundsError(
            f"{n_assets} assets at a {_percent(upper)} maximum hold at most {_percent(most)} of capital: "
            f"no portfolio fits {span}"
        )
    if abs(least - 1.0) <= _EXACT or abs(most - 1.0) <= _EXACT:
        at, way_out = (f"a {_percent(lower)} minimum", "a lower minimum")
        if abs(least - 1.0) > _EXACT:
            at, way_out = (f"a {_percent(upper)} maximum", "a higher maximum")
        raise BoundsError(
            f"{n_assets} assets at {at} take exactly 100 % of capital: {span} fix every weight at equal weight "
            f"({_percent(1.0 / n_assets)}), so there is nothing to optimise; widen the bounds ({way_out})"
        )


def analyse_portfolio(
    values: pd.DataFrame,
    weights: pd.Series | None = None,
    *,
    bounds: tuple[float, float] = BOUNDS,
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE,
    frequency: int = TRADING_DAYS_PER_YEAR,
    min_relative_improvement: float = DEFAULT_MIN_RELATIVE_IMPROVEMENT,
    profiles: Iterable[RiskProfile | str] = tuple(RiskProfile),
) -> PortfolioAnalysis:
    """Scorecard, correlation, risk split and the risk profiles' proposals for a (dates x assets) panel.

    ``values`` holds prices or equity, oldest first, columns labelled by asset (unique strings), NaN where an
    asset has no value yet. ``weights`` are the current fractions of capital, indexed like the columns (any
    order); None takes equal weights. Raises ``BoundsError`` for bounds that leave nothing to optimise and
    ``ValueError`` for a panel or weights that cannot be analysed, naming the assets at fault.
    """
    panel = _panel(values)
    assets = values.columns
    labels = [str(label) for label in assets]
    check_bounds(len(labels), bounds)
    if not (isinstance(frequency, int) and frequency >= 1):
        raise ValueError(f"frequency must be a whole number of periods a year >= 1, got {frequency!r}")
    if not math.isfinite(risk_free_rate):
        raise ValueError(f"risk_free_rate must be finite, got {risk_free_rate}")
    if not (math.isfinite(min_relative_improvement) and min_relative_improvement >= 0.0):
        raise ValueError(f"min_relative_improvement must be a finite fraction >= 0, got {min_relative_improvement}")
    wanted = tuple(dict.fromkeys(RiskProfile(profile) for profile in profiles))

    notes: list[str] = []
    current = _current_weights(weights, labels, notes)
    notes.extend(_late_starts(values, panel))
    mu = mean_historical_return(panel, frequency)
    cov = sample_covariance(panel, frequency)
    performance = asset_performance(panel, frequency, risk_free_rate)
    contributions = risk_contributions(current, cov)
    now = evaluate(current, mu, cov, risk_free_rate)

    proposals: dict[RiskProfile, Proposal] = {}
    for profile in wanted:
        proposal = _propose(profile, labels, assets, current, mu, cov, bounds, risk_free_rate, min_relative_improvement)
        if proposal.error is not None:
            notes.append(f"no {profile.value} proposal: {proposal.error}")
        proposals[profile] = proposal

    return PortfolioAnalysis(
        scorecard=pd.DataFrame({name: getattr(performance, name) for name in SCORECARD_COLUMNS}, index=assets),
        correlation=pd.DataFrame(correlation_matrix(panel), index=assets, columns=assets),
        expected_returns=pd.Series(mu, index=assets, name="expected_return"),
        covariance=pd.DataFrame(cov, index=assets, columns=assets),
        current_weights=pd.Series(current, index=assets, name="current"),
        risk_contributions=pd.Series(contributions / contributions.sum(), index=assets, name="risk_share"),
        diversification_ratio=diversification_ratio(current, cov),
        current=ProposalFigures(now.expected_return, now.volatility, now.sharpe),
        proposals=MappingProxyType(proposals),
        bounds=(float(bounds[0]), float(bounds[1])),
        risk_free_rate=risk_free_rate,
        min_relative_improvement=min_relative_improvement,
        notes=tuple(notes),
    )


def _propose(
    profile: RiskProfile,
    labels: list[str],
    assets: pd.Index,
    current: FloatArray,
    mu: FloatArray,
    cov: FloatArray,
    bounds: tuple[float, float],
    risk_free_rate: float,
    min_relative_improvement: float,
) -> Proposal:
    try:
        target = optimize_for_profile(profile, mu, cov, bounds=bounds, risk_free_rate=risk_free_rate)
    except ValueError as exc:  # the optimiser's contract: inputs that admit no answer
        nan = math.nan
        return Proposal(
            profile=profile,
            weights=pd.Series([], index=assets[:0], dtype=np.float64, name=profile.value),
            expected_return=nan,
            volatility=nan,
            sharpe=nan,
            sharpe_improvement=nan,
            rebalance=False,
            reason=str(exc),
            turnover=nan,
            error=str(exc),
        )
    verdict = propose_rebalance(
        labels,
        current,
        target.weights,
        mu,
        cov,
        risk_free_rate=risk_free_rate,
        min_relative_improvement=min_relative_improvement,
    )
    return Proposal(
        profile=profile,
        weights=pd.Series(target.weights, index=assets, name=profile.value),
        expected_return=target.expected_return,
        volatility=target.volatility,
        sharpe=target.sharpe,
        sharpe_improvement=verdict.sharpe_improvement,
        rebalance=verdict.rebalance,
        reason=verdict.reason,
        turnover=verdict.turnover,
    )


def _panel(values: pd.DataFrame) -> FloatArray:
    """The panel's numbers, after checking what the numpy layer would report by column number only."""
    if not isinstance(values, pd.DataFrame):
        raise TypeError(f"values must be a pandas DataFrame (dates x assets), got {type(values).__name__}")
    labels = list(values.columns)
    if values.empty:
        raise ValueError("values is empty: it needs dates as rows and assets as columns")
    odd = [label for label in labels if not isinstance(label, str)]
    if odd:
        raise ValueError(f"asset labels must be strings, got {', '.join(repr(label) for label in odd)}")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"asset labels repeat: {', '.join(repeated)}")
    if len(values) < 2:
        raise ValueError(f"values has {len(values)} row; at least 2 dates are needed for a return")
    if len(labels) < 2:
        raise ValueError(f"values has {len(labels)} asset ({labels[0]}); a portfolio needs at least 2")
    if not (values.index.is_unique and values.index.is_monotonic_increasing):
        raise ValueError("values must be indexed by dates in ascending order (oldest first), each date once")
    try:
        panel = np.array(values.to_numpy(dtype=np.float64), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"values must be numbers: {exc}") from exc
    bad = ~np.isnan(panel) & ~((panel > 0.0) & np.isfinite(panel))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"values must be positive and finite: {labels[column]} has {panel[row, column]} at {values.index[row]}"
        )
    returns = ~np.isnan(panel[1:]) & ~np.isnan(panel[:-1])
    thin = [labels[i] for i in np.flatnonzero(returns.sum(axis=0) < 2)]
    if thin:
        raise ValueError(f"{', '.join(thin)}: fewer than 2 returns (3 consecutive values); nothing to estimate")
    shared = returns.T.astype(np.int64) @ returns.astype(np.int64)
    if (shared < 2).any():
        i, j = np.argwhere(shared < 2)[0]
        raise ValueError(
            f"{labels[i]} and {labels[j]} share fewer than 2 periods with returns; their covariance is undefined"
        )
    return panel


def _current_weights(weights: pd.Series | None, labels: list[str], notes: list[str]) -> FloatArray:
    n = len(labels)
    if weights is None:
        notes.append(f"current weights unknown: equal weights ({_percent(1.0 / n)} each) taken as the current ones")
        return np.full(n, 1.0 / n)
    if not isinstance(weights, pd.Series):
        raise TypeError(f"weights must be a pandas Series indexed by asset, got {type(weights).__name__}")
    given = [str(label) for label in weights.index]
    if not weights.index.is_unique:
        repeated = sorted({label for label in given if given.count(label) > 1})
        raise ValueError(f"current weights repeat assets: {', '.join(repeated)}")
    known = set(labels)
    missing = [label for label in labels if label not in weights.index]
    extra = [str(label) for label in weights.index if label not in known]
    if missing or extra:
        parts = [f"{kind} {', '.join(names)}" for kind, names in (("missing", missing), ("extra", extra)) if names]
        raise ValueError(f"current weights do not match the assets: {'; '.join(parts)}")
    try:
        current = np.array(weights.reindex(labels).to_numpy(dtype=np.float64), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"current weights must be numbers: {exc}") from exc
    odd = [label for label, weight in zip(labels, current, strict=True) if not math.isfinite(weight)]
    if odd:
        raise ValueError(f"current weights must be finite: {', '.join(odd)}")
    total = float(current.sum())
    if abs(total - 1.0) > 1e-9:
        notes.append(
            f"current weights sum to {_percent(total)}; the other {_percent(1.0 - total)} counts as cash "
            "at the risk-free rate"
        )
    return current


def _late_starts(values: pd.DataFrame, panel: FloatArray) -> list[str]:
    first_rows = np.argmax(~np.isnan(panel), axis=0)
    return [
        f"{label} has values from {values.index[row]} only; its figures cover its own history"
        for label, row in zip(values.columns, first_rows, strict=True)
        if row > 0
    ]


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g} %"


# ---- as JSON (the CLI's --json and the REST API) -------------------------------------------------


def analysis_as_json(analysis: PortfolioAnalysis) -> dict[str, Any]:
    """The analysis as JSON-ready data; figures that are not finite (an undefined ratio) become null."""
    return {
        "bounds": list(analysis.bounds),
        "risk_free_rate": analysis.risk_free_rate,
        "min_relative_improvement": analysis.min_relative_improvement,
        "scorecard": {asset: _finite_map(row) for asset, row in analysis.scorecard.iterrows()},
        "correlation": {asset: _finite_map(row) for asset, row in analysis.correlation.iterrows()},
        "expected_returns": _finite_map(analysis.expected_returns),
        "current": {
            "weights": _finite_map(analysis.current_weights),
            "expected_return": _finite(analysis.current.expected_return),
            "volatility": _finite(analysis.current.volatility),
            "sharpe": _finite(analysis.current.sharpe),
            "risk_contributions": _finite_map(analysis.risk_contributions),
            "diversification_ratio": _finite(analysis.diversification_ratio),
        },
        "proposals": {profile.value: _proposal_json(proposal) for profile, proposal in analysis.proposals.items()},
        "notes": list(analysis.notes),
    }


def _proposal_json(proposal: Proposal) -> dict[str, Any]:
    return {
        "weights": _finite_map(proposal.weights),
        "expected_return": _finite(proposal.expected_return),
        "volatility": _finite(proposal.volatility),
        "sharpe": _finite(proposal.sharpe),
        "sharpe_improvement": _finite(proposal.sharpe_improvement),
        "rebalance": proposal.rebalance,
        "reason": proposal.reason,
        "turnover": _finite(proposal.turnover),
        "error": proposal.error,
    }


def _finite(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _finite_map(series: pd.Series) -> dict[str, float | None]:
    return {str(label): _finite(value) for label, value in series.items()}
