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
    """Validated inputs: expected returns ``(n,)``, covariance ``(n, n)``, bounds ``(n,)`` each."""

    expected_returns: FloatArray
    cov: FloatArray
    lower: FloatArray
    upper: FloatArray

    @property
    def single_point(self) -> FloatArray | None:
        """The only feasible portfolio when the bounds leave no room (e.g. 20 assets at >= 5 % each)."""
        if self.lower.sum() >= 1.0 - _TOL:
            return self.lower.copy()
        if self.upper.sum() <= 1.0 + _TOL:
            return self.upper.copy()
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
    lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy()
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ValueError("weight bounds must be finite")
    if (lo > hi).any():
        i = int(np.argmax(lo > hi))
        raise ValueError(f"lower bound above upper bound for asset {i}: {lo[i]} > {hi[i]}")
    if lo.sum() > 1.0 + _TOL:
        raise ValueError(f"bounds cannot sum to 1: the lower bounds sum to {lo.sum():.6g} > 1")
    if hi.sum() < 1.0 - _TOL:
        raise ValueError(f"bounds cannot sum to 1: the upper bounds sum to {hi.sum():.6g} < 1")
    return MeanVarianceInputs(mu, sigma, lo, hi)


def max_return_weights(inputs: MeanVarianceInputs) -> FloatArray:
    """A fully invested portfolio of maximum expected return: the linear programme solved greedily.

    Every weight starts at its lower bound; the budget left is given to the assets in decreasing order of
    expected return, each up to its upper bound. Ties go to the earlier asset.
    """
    mu, lower, upper = inputs.expected_returns, inputs.lower, inputs.upper
    order = np.argsort(-mu, kind="stable")
    room = (upper - lower)[order]
    budget_before = 1.0 - lower.sum() - (np.cumsum(room) - room)
    weights = lower.copy()
    weights[order] += np.clip(budget_before, 0.0, room)
    return weights


def efficient_path(inputs: MeanVarianceInputs) -> Iterator[EfficientSegment]:
    """The segments of the efficient path in order of rising ``t``, from minimum variance to maximum return.

    Lazy: a caller looking for one portfolio stops iterating at the segment that holds it.
    """
    point = inputs.single_point
    if point is not None:
        return iter((_segment(inputs, 0.0, math.inf, point, np.zeros_like(point)),))
    return _Walk(inputs).segments()


def _segment(
    inputs: MeanVarianceInputs, t_start: float, t_end: float, base: FloatArray, slope: FloatArray
) -> EfficientSegment:
    mu, cov = inputs.expected_returns, inputs.cov
    cov_slope = cov @ slope
    return EfficientSegment(
        t_start=t_start,
        t_end=t_end,
        base=base,
        slope=slope,
        return_base=float(mu @ base),
        return_slope=float(mu @ slope),
        variance_base=float(base @ cov @ base),
        variance_cross=float(base @ cov_slope),
        variance_slope=float(slope @ cov_slope),
    )


@dataclass(frozen=True, slots=True)
class _Affine:
    """The KKT solution for one active set, affine in ``t``: weights and bound multipliers."""

    base: FloatArray
    slope: FloatArray
    # Constraints ``alpha + t * beta >= 0`` that keep this active set optimal: the first n are the lower
    # bound of a free weight or the multiplier sign of a pinned one, the next n the upper bound of a free
    # weight (always satisfied for a pinned one).
    alpha: FloatArray
    beta: FloatArray


class _Walk:
    """Walks the path on data scaled to O(1): ``mu / max|mu|`` and ``cov / max(diag cov)``."""

    def __init__(self, inputs: MeanVarianceInputs) -> None:
        self.inputs = inputs
        mu_scale = float(np.abs(inputs.expected_returns).max()) or 1.0
        self.mu = inputs.expected_returns / mu_scale
        self.cov = inputs.cov / float(np.diag(inputs.cov).max())
        self.lower, self.upper = inputs.lower, inputs.upper
        self.n = len(self.mu)
        self.max_return = float(self.mu @ max_return_weights(inputs))

    def segments(self) -> Iterator[EfficientSegment]:
        pinned, at_upper = self._min_variance_active_set()
        t = 0.0
        for _ in range(50 * self.n + 50):
            affine = self._solve(pinned, at_upper)
            if (affine.alpha + t * affine.beta).min() < -_TOL * (1.0 + t):
                # A degenerate turning point: several constraints changed at once. Re-solve just past it.
                weights = affine.base + t * affine.slope
                t += _NUDGE * (1.0 + t)
                pinned, at_upper = self._active_set_at(t, np.clip(weights, self.lower, self.upper), pinned, at_upper)
                continue
            weights = affine.base + t * affine.slope
            falling = affine.beta < 0.0
            limits = np.where(falling, -affine.alpha / np.where(falling, affine.beta, -1.0), math.inf)
            event = int(np.argmin(limits))
            t_end = max(float(limits[event]), t)
            if math.isinf(t_end) or float(self.mu @ weights) >= self.max_return - _TOL:
                yield _segment(self.inputs, t, math.inf, weights, np.zeros(self.n))
                return
            if t_end > t:
                yield _segment(self.inputs, t, t_end, affine.base, affine.slope)
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
        free = np.flatnonzero(~pinned)
        k = len(free)
        pinned_weights = np.where(pinned, np.where(at_upper, self.upper, self.lower), 0.0)
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = self.cov[np.ix_(free, free)]
        kkt[:k, k] = -1.0
        kkt[k, :k] = 1.0
        rhs = np.zeros((k + 1, 2))
        rhs[:k, 0] = -(self.cov[free] @ pinned_weights)
        rhs[k, 0] = 1.0 - pinned_weights.sum()
        rhs[:k, 1] = self.mu[free]
        solution = np.linalg.solve(kkt, rhs)
        base = pinned_weights.copy()
        base[free] = solution[:k, 0]
        slope = np.zeros(self.n)
        if k > 1:  # one free weight is fixed by the budget; keep rounding from moving it
            slope[free] = solution[:k, 1]
        # Gradient of the Lagrangian on each weight: > 0 pushes it down, < 0 up (zero on free weights).
        push_base = self.cov @ base - solution[k, 0]
        push_slope = self.cov @ slope - self.mu - solution[k, 1]
        sign = np.where(at_upper, -1.0, 1.0)
        alpha = np.concatenate(
            [np.where(pinned, sign * push_base, base - self.lower), np.where(pinned, math.inf, self.upper - base)]
        )
        beta = np.concatenate([np.where(pinned, sign * push_slope, slope), np.where(pinned, 0.0, -slope)])
        return _Affine(base, slope, alpha, beta)

    def _min_variance_active_set(self) -> tuple[BoolArray, BoolArray]:
        no_pins = np.zeros(self.n, dtype=np.bool_)
        unconstrained = self._solve(no_pins, no_pins).base
        start = _project_onto_budget_box(unconstrained, self.lower, self.upper)
        pinned = (start <= self.lower) | (start >= self.upper)
        if pinned.all():
            pinned[int(np.argmax(self.upper - self.lower))] = False
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
