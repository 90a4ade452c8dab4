"""The efficient path: every mean-variance efficient portfolio under per-asset bounds, solved exactly.

This module owns the solver behind ``quant.portfolio.optimize``. For a risk appetite ``t >= 0`` the
efficient portfolio ``w(t)`` solves

    minimise  ½ w'Σw - t μ'w   subject to   sum(w) = 1,   lower <= w <= upper.

``t = 0`` gives the minimum-variance portfolio; as ``t`` grows, expected return and variance rise until the
path reaches the maximum-return portfolio. Between turning points the set of assets pinned at a bound is
fixed and ``w(t)`` is affine in ``t`` (Markowitz's critical line), so the path is a short chain of
``EfficientSegment``s, each found with one linear solve of the KKT system of the assets left free. The
minimum-variance start is found by a primal active-set method from the projection of the
budget-only solution onto the bounds; then each turning point comes from the segment itself: a free
weight reaching a bound, or a pinned weight's multiplier reaching zero. Every question (minimum variance,
maximum Sharpe, a target return or volatility, the frontier) is then answered in closed form on the
segment where it lies, so results are exact up to rounding, with no solver tolerance to tune.

Inputs are checked once, with ``ValueError`` naming the problem: shapes, finiteness, a covariance that is
not symmetric positive definite, bounds that are not finite or cannot sum to 1. A ``RuntimeError`` means a
bug here (the walk did not terminate), never bad input. Pure: numpy only, no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Feasibility slack on weights and (normalised) multipliers; the data is scaled to O(1) before solving.
_TOL = 1e-12
# A step past a degenerate turning point, relative to the risk appetite there.
_NUDGE = 1e-10


@dataclass(frozen=True, slots=True)
class EfficientSegment:
    """One piece of the efficient path: weights ``base + t * slope`` for ``t`` in ``[t_start, t_end]``.

    ``t`` is in the solver's internal scale (only its order matters). The last segment of a path has
    ``t_end = inf`` and ``slope = 0``: it is the maximum-return portfolio of least variance. The return and
    variance coefficients are in the units of the inputs (annualised fractions for annualised inputs):
    ``return(t) = return_base + t * return_slope`` and
    ``variance(t) = variance_base + 2 t variance_cross + t² variance_slope``.
    """

    t_start: float
    t_end: float
    base: FloatArray
    slope: FloatArray
    return_base: float
    return_slope: float
    variance_base: float
    variance_cross: float
    variance_slope: float

    @property
    def is_last(self) -> bool:
        return math.isinf(self.t_end)

    def weights_at(self, t: float) -> FloatArray:
        return self.base + t * self.slope

    def return_at(self, t: float) -> float:
        return self.return_base + t * self.return_slope

    def variance_at(self, t: float) -> float:
        return self.variance_base + t * (2.0 * self.variance_cross + t * self.variance_slope)


@dataclass(frozen=True, slots=True)
class MeanVarianceInputs:
    """Validated inputs: expected returns ``(n,)``, covariance ``(n, n)``, weight bounds ``(n,)`` each.

    ``max_return_weights`` is a fully invested portfolio of maximum expected return (the linear programme,
    solved greedily: every weight starts at its lower bound and the budget left goes to the highest
    expected returns first, each up to its upper bound; ties go to the earlier asset).
    """

    expected_returns: FloatArray
    cov: FloatArray
    lower: FloatArray
    upper: FloatArray
    max_return_weights: FloatArray

    @property
    def max_return(self) -> float:
        return float(self.expected_returns @ self.max_return_weights)

    @property
    def single_point(self) -> FloatArray | None:
        """The only feasible portfolio when the bounds leave no room (e.g. 20 assets at >= 5 % each)."""
        if self.lower.sum() >= 1.0 - _TOL:
            return self.lower
        if self.upper.sum() <= 1.0 + _TOL:
            return self.upper
        return None


def check_inputs(
    expected_returns: npt.ArrayLike, cov: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike
) -> MeanVarianceInputs:
    """Validate and broadcast the inputs of a fully invested, bounded mean-variance problem.

    ``lower`` and ``upper`` are weights (fractions, negative for short) broadcast to one per asset. Raises
    ``ValueError`` naming the first problem found.
    """
    mu = np.asarray(expected_returns, dtype=np.float64)
    if mu.ndim != 1 or len(mu) == 0:
        raise ValueError(f"expected_returns must be a non-empty 1-D array, got shape {mu.shape}")
    n = len(mu)
    sigma = np.asarray(cov, dtype=np.float64)
    if sigma.shape != (n, n):
        raise ValueError(f"cov must have shape ({n}, {n}) to match expected_returns, got {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError("expected_returns and cov must be finite (no NaN or infinity)")
    if np.abs(sigma - sigma.T).max() > 1e-10 * np.abs(sigma).max():
        raise ValueError("cov must be symmetric")
    try:
        np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        raise ValueError("cov must be positive definite (is an asset duplicated or riskless?)") from None
    bounds = np.empty((2, n))
    bounds[0], bounds[1] = lower, upper
    if not np.isfinite(bounds).all():
        raise ValueError("weight bounds must be finite")
    lo, hi = bounds
    if (lo > hi).any():
        i = int(np.argmax(lo > hi))
        raise ValueError(f"lower bound above upper bound for asset {i}: {lo[i]} > {hi[i]}")
    if lo.sum() > 1.0 + _TOL:
        raise ValueError(f"bounds cannot sum to 1: the lower bounds sum to {lo.sum():.6g} > 1")
    if hi.sum() < 1.0 - _TOL:
        raise ValueError(f"bounds cannot sum to 1: the upper bounds sum to {hi.sum():.6g} < 1")
    order = np.argsort(-mu, kind="stable")
    room = (hi - lo)[order]
    budget_before = 1.0 - lo.sum() - (np.cumsum(room) - room)
    best = lo.copy()
    best[order] += np.clip(budget_before, 0.0, room)
    return MeanVarianceInputs(mu, sigma, lo, hi, best)


def efficient_path(inputs: MeanVarianceInputs) -> Iterator[EfficientSegment]:
    """The segments of the efficient path in order of rising ``t``, from minimum variance to maximum return.

    Lazy: a caller looking for one portfolio stops iterating at the segment that holds it.
    """
    point = inputs.single_point
    if point is not None:
        moments = np.array([[point @ inputs.cov @ point, 0.0], [0.0, 0.0]])
        returns = np.array([inputs.expected_returns @ point, 0.0])
        return iter((_final_segment(0.0, point, returns, moments),))
    return _Walk(inputs).segments()


def _final_segment(t: float, weights: FloatArray, returns: FloatArray, moments: FloatArray) -> EfficientSegment:
    """The constant last segment from ``t`` on; ``returns`` and ``moments`` are the affine ones at ``t``."""
    at_t = np.array([1.0, t])
    return EfficientSegment(
        t_start=t,
        t_end=math.inf,
        base=weights,
        slope=np.zeros_like(weights),
        return_base=float(returns @ at_t),
        return_slope=0.0,
        variance_base=float(at_t @ moments @ at_t),
        variance_cross=0.0,
        variance_slope=0.0,
    )


@dataclass(frozen=True, slots=True)
class _Affine:
    """The KKT solution for one active set, for every ``t``: weights ``base + t * slope``, and the rest."""

    base: FloatArray
    slope: FloatArray
    returns: FloatArray  # (2,): expected return = returns[0] + t * returns[1], in input units
    moments: FloatArray  # (2, 2): variance = [1, t] @ moments @ [1, t], in input units
    # Constraints ``alpha + t * beta >= 0`` that keep this active set optimal: the first n are the lower
    # bound of a free weight or the multiplier sign of a pinned one, the next n the upper bound of a free
    # weight (always satisfied for a pinned one).
    alpha: FloatArray
    beta: FloatArray

    def weights_at(self, t: float) -> FloatArray:
        return self.base + t * self.slope

    def segment(self, t_start: float, t_end: float) -> EfficientSegment:
        return EfficientSegment(
            t_start=t_start,
            t_end=t_end,
            base=self.base,
            slope=self.slope,
            return_base=float(self.returns[0]),
            return_slope=float(self.returns[1]),
            variance_base=float(self.moments[0, 0]),
            variance_cross=float(self.moments[0, 1]),
            variance_slope=float(self.moments[1, 1]),
        )


class _Walk:
    """Walks the path on data scaled to O(1): ``mu / max|mu|`` and ``cov / max(diag cov)``."""

    def __init__(self, inputs: MeanVarianceInputs) -> None:
        n = len(inputs.expected_returns)
        self.n = n
        self.mu_scale = float(np.abs(inputs.expected_returns).max()) or 1.0
        self.cov_scale = float(np.diag(inputs.cov).max())
        self.mu = inputs.expected_returns / self.mu_scale
        self.lower, self.upper = inputs.lower, inputs.upper
        self.span = self.upper - self.lower
        self.max_return = inputs.max_return / self.mu_scale
        # The bordered KKT matrix of the budget constraint, [[cov, -1], [1, 0]]; each face takes a sub-block.
        self.kkt = np.zeros((n + 1, n + 1))
        self.kkt[:n, :n] = inputs.cov / self.cov_scale
        self.kkt[:n, n] = -1.0
        self.kkt[n, :n] = 1.0
        self.kkt_left = np.ascontiguousarray(self.kkt[:, :n])
        # Right-hand sides before the pinned weights are moved over: [budget, mu] per column.
        self.rhs = np.zeros((n + 1, 2))
        self.rhs[n, 0] = 1.0
        self.rhs[:n, 1] = self.mu

    def segments(self) -> Iterator[EfficientSegment]:
        pinned, at_upper = self._min_variance_active_set()
        t = 0.0
        for _ in range(50 * self.n + 50):
            affine = self._solve(pinned, at_upper)
            if (affine.alpha + t * affine.beta).min() < -_TOL * (1.0 + t):
                # A degenerate turning point: several constraints changed at once. Re-solve just past it.
                weights = np.clip(affine.weights_at(t), self.lower, self.upper)
                t += _NUDGE * (1.0 + t)
                pinned, at_upper = self._active_set_at(t, weights, pinned, at_upper)
                continue
            falling = affine.beta < 0.0
            limits = np.where(falling, affine.alpha / np.where(falling, -affine.beta, 1.0), math.inf)
            event = int(np.argmin(limits))
            t_end = max(float(limits[event]), t)
            reached_top = (affine.returns[0] + t * affine.returns[1]) / self.mu_scale >= self.max_return - _TOL
            if reached_top or math.isinf(t_end):
                yield _final_segment(t, affine.weights_at(t), affine.returns, affine.moments)
                return
            if t_end > t:
                yield affine.segment(t, t_end)
            t = t_end
            asset = event % self.n
            if event >= self.n:  # a free weight reached its upper bound
                pinned[asset], at_upper[asset] = True, True
            elif pinned[asset]:  # a pinned weight's multiplier reached zero: it leaves its bound
                pinned[asset] = False
            else:  # a free weight reached its lower bound
                pinned[asset], at_upper[asset] = True, False
        raise RuntimeError("the efficient path did not terminate; please report the inputs")

    def _solve(self, pinned: BoolArray, at_upper: BoolArray) -> _Affine:
        """Weights and multipliers on the face where ``pinned`` weights sit at their bound, for every t."""
        n = self.n
        pinned_weights = (self.lower + at_upper * self.span) * pinned
        rows = np.flatnonzero(np.append(~pinned, True))  # the free weights and the budget multiplier
        rhs = self.rhs.copy()
        rhs[:, 0] -= self.kkt_left @ pinned_weights
        solution = np.zeros((n + 1, 2))
        solution[:n, 0] = pinned_weights
        solution[rows] = np.linalg.solve(self.kkt[np.ix_(rows, rows)], rhs[rows])
        if len(rows) == 2:  # a lone free weight is fixed by the budget; keep rounding from moving it
            solution[rows[0], 1] = 0.0
        # kkt @ solution = [cov w - nu, sum(w)]; on each weight, cov w - t mu - nu is the multiplier of its
        # bound constraint: > 0 pushes it down, < 0 up, 0 on free weights.
        products = self.kkt @ solution
        push = products[:n] - np.outer(self.mu, [0.0, 1.0])
        base, slope = solution[:n, 0], solution[:n, 1]
        sign = 1.0 - 2.0 * at_upper
        alpha = np.concatenate(
            (np.where(pinned, sign * push[:, 0], base - self.lower), np.where(pinned, math.inf, self.upper - base))
        )
        beta = np.concatenate((np.where(pinned, sign * push[:, 1], slope), np.where(pinned, 0.0, -slope)))
        weights = solution[:n]
        moments = self.cov_scale * (weights.T @ (products[:n] + solution[n]))
        returns = self.mu_scale * (self.mu @ weights)
        return _Affine(base, slope, returns, moments, alpha, beta)

    def _min_variance_active_set(self) -> tuple[BoolArray, BoolArray]:
        no_pins = np.zeros(self.n, dtype=np.bool_)
        unconstrained = self._solve(no_pins, no_pins).base
        start = _project_onto_budget_box(unconstrained, self.lower, self.upper)
        pinned = (start <= self.lower) | (start >= self.upper)
        if pinned.all():
            pinned[int(np.argmax(self.span))] = False
        return self._active_set_at(0.0, start, pinned, start >= self.upper)

    def _active_set_at(
        self, t: float, weights: FloatArray, pinned: BoolArray, at_upper: BoolArray
    ) -> tuple[BoolArray, BoolArray]:
        """Primal active-set method at a fixed ``t`` from the feasible ``weights`` (Nocedal & Wright 16.3)."""
        x, pinned, at_upper = weights.copy(), pinned.copy(), at_upper.copy()
        affine = self._solve(pinned, at_upper)
        for _ in range(20 * self.n + 20):
            step = affine.base + t * affine.slope - x
            if np.abs(step).max() > _TOL:
                with np.errstate(divide="ignore", invalid="ignore"):
                    room = np.where(step < 0.0, (self.lower - x) / step, (self.upper - x) / step)
                room = np.where(pinned | (step == 0.0), math.inf, room)
                blocking = int(np.argmin(room))
                if room[blocking] < 1.0:
                    x += max(float(room[blocking]), 0.0) * step
                    pinned[blocking], at_upper[blocking] = True, bool(step[blocking] > 0.0)
                    x[blocking] = self.upper[blocking] if at_upper[blocking] else self.lower[blocking]
                    affine = self._solve(pinned, at_upper)
                    continue
                x += step
            # x is optimal on its face; it is optimal overall when no pinned weight wants to leave its bound.
            multipliers = np.where(pinned, affine.alpha[: self.n] + t * affine.beta[: self.n], math.inf)
            worst = int(np.argmin(multipliers))
            if multipliers[worst] >= -_TOL * (1.0 + t):
                return pinned, at_upper
            pinned[worst] = False
            affine = self._solve(pinned, at_upper)
        raise RuntimeError("the active-set method did not converge; please report the inputs")


def _project_onto_budget_box(z: FloatArray, lower: FloatArray, upper: FloatArray) -> FloatArray:
    """The Euclidean projection of ``z`` onto ``{w : sum(w) = 1, lower <= w <= upper}``: ``clip(z - s)``.

    ``sum(clip(z - s, lower, upper))`` falls piecewise-linearly in the shift ``s``; the right ``s`` lies
    between two of its breakpoints and is found by interpolation.
    """
    shifts = np.sort(np.concatenate([z - upper, z - lower]))
    totals = np.clip(z - shifts[:, np.newaxis], lower, upper).sum(axis=1)  # non-increasing
    k = min(int(np.searchsorted(-totals, -1.0, side="right")), len(shifts) - 1)
    k = max(k, 1)
    left, right = totals[k - 1], totals[k]
    share = 0.0 if left == right else (left - 1.0) / (left - right)
    shift = shifts[k - 1] + share * (shifts[k] - shifts[k - 1])
    return np.clip(z - shift, lower, upper)
