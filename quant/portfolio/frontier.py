"""The efficient path: every mean-variance efficient portfolio under per-asset bounds, solved exactly.

This module owns the solver behind ``quant.portfolio.optimize``. For a risk appetite ``t >= 0`` the
efficient portfolio ``w(t)`` solves

    minimise  ½ w'Σw - t μ'w   subject to   sum(w) = 1,   lower <= w <= upper.

``t = 0`` gives the minimum-variance portfolio; as ``t`` grows, expected return and variance rise until the
path reaches the maximum-return portfolio. Between turning points the set of weights pinned at a bound is
fixed and ``w(t)`` is affine in ``t`` (Markowitz's critical line): the path is a chain of
``EfficientSegment``s, each given by one linear solve of the KKT system of the free weights, and every
question (minimum variance, maximum Sharpe, a target return or volatility) has a closed-form answer on the
segment where it lies. So results are exact up to rounding, with no solver tolerance to tune.

``locate`` finds that segment in two ways. First a guess: starting from the budget-only solution, pin the
weights that break a bound, solve, move ``t`` to where the question's answer lies on that line, free the
pinned weights whose multiplier has the wrong sign and pin the free ones out of bounds, and repeat (a
primal-dual active-set iteration; usually 2-4 solves). The answer is accepted only when the KKT conditions
hold there, which proves it optimal. Otherwise (rarely: a cycle, a degenerate face) it walks the path from
the minimum-variance portfolio one turning point at a time, which always ends.

Inputs are checked once by ``check_inputs``, with ``ValueError`` naming the problem: shapes, finiteness, a
covariance that is not symmetric positive definite, bounds that are not finite or cannot sum to 1. A
``RuntimeError`` means a bug here, never bad input. Pure: numpy only, no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Feasibility slack on weights and on (normalised) multipliers; the data is scaled to O(1) before solving.
_TOL = 1e-12
# A step past a degenerate turning point, relative to the risk appetite there.
_NUDGE = 1e-10
# Solves the guess may take before the walk takes over.
_MAX_GUESSES = 12


@dataclass(frozen=True, slots=True)
class EfficientSegment:
    """One piece of the efficient path: weights ``base + t * slope`` for ``t`` in ``[t_start, t_end]``.

    ``t`` is in the solver's internal scale (only its order matters). The last segment of a path has
    ``t_end = inf`` and ``slope = 0``: it is the maximum-return portfolio of least variance. Return and
    variance are in the units of the inputs (annualised fractions for annualised inputs):
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


# Where on a segment's line (t >= t_start, ignoring t_end) the wanted portfolio lies; None when nowhere.
Target = Callable[[EfficientSegment], float | None]


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

    Lazy: a caller looking for one portfolio may stop at the segment that holds it.
    """
    point = inputs.single_point
    if point is not None:
        return iter((_constant_segment(inputs, point, 0.0),))
    return _Walk(inputs).segments()


def locate(inputs: MeanVarianceInputs, target: Target) -> FloatArray:
    """The efficient weights where ``target`` points: the first segment (by ``t``) whose line holds a
    target ``t <= t_end``, at ``max(t, t_start)``; the path's last portfolio when none does.
    """
    point = inputs.single_point
    if point is not None:
        return point.copy()
    walk = _Walk(inputs)
    guess = walk.guess(target)
    return guess if guess is not None else weights_where(walk.segments(), target)


def weights_where(segments: Iterable[EfficientSegment], target: Target) -> FloatArray:
    """The efficient weights where ``target`` points along a path's ``segments`` (see ``locate``)."""
    for segment in segments:
        t = target(segment)
        if segment.is_last:
            return segment.base
        if t is not None and t <= segment.t_end:
            return segment.weights_at(max(t, segment.t_start))
    raise ValueError("the segments do not reach the end of an efficient path")


def _constant_segment(inputs: MeanVarianceInputs, weights: FloatArray, t_start: float) -> EfficientSegment:
    """The last segment: from ``t_start`` on, the weights no longer move."""
    return EfficientSegment(
        t_start=t_start,
        t_end=math.inf,
        base=weights,
        slope=np.zeros_like(weights),
        return_base=float(inputs.expected_returns @ weights),
        return_slope=0.0,
        variance_base=float(weights @ inputs.cov @ weights),
        variance_cross=0.0,
        variance_slope=0.0,
    )


@dataclass(frozen=True, slots=True)
class _Face:
    """The KKT solution on one face (a set of pinned weights), for every ``t``."""

    pinned: BoolArray
    at_upper: BoolArray
    base: FloatArray  # weights = base + t * slope
    slope: FloatArray
    returns: FloatArray  # (2,): expected return = returns[0] + t * returns[1], in input units
    moments: FloatArray  # (2, 2): variance = [1, t] @ moments @ [1, t], in input units
    # Constraints ``alpha + t * beta >= 0`` that keep this face optimal: the first n are the lower bound of
    # a free weight or the multiplier sign of a pinned one, the next n the upper bound of a free weight
    # (always met by a pinned one).
    alpha: FloatArray
    beta: FloatArray

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

    def violations(self, t: float) -> BoolArray:
        """Which of the ``2n`` optimality constraints fail at ``t`` (multipliers grow with t, weights do not)."""
        slack = _TOL * (1.0 + t * np.concatenate((self.pinned, np.zeros_like(self.pinned))))
        return np.asarray(self.alpha + t * self.beta < -slack)


class _Walk:
    """The solver, on data scaled to O(1): ``mu / max|mu|`` and ``cov / max(diag cov)``."""

    def __init__(self, inputs: MeanVarianceInputs) -> None:
        n = len(inputs.expected_returns)
        self.inputs, self.n = inputs, n
        self.mu_scale = float(np.abs(inputs.expected_returns).max()) or 1.0
        self.cov_scale = float(np.diag(inputs.cov).max())
        self.mu = inputs.expected_returns / self.mu_scale
        self.mu_push = np.outer(self.mu, [0.0, 1.0])
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
        self.rows = np.ones(n + 1, dtype=np.bool_)

    def guess(self, target: Target) -> FloatArray | None:
        """The efficient weights where ``target`` points, if the guess proves them optimal; else None."""
        found = self._guess_face(target)
        if found is None:
            return None
        face, t = found
        return face.base + t * face.slope

    def _guess_face(self, target: Target) -> tuple[_Face, float] | None:
        """Primal-dual active-set iteration: re-pin by the KKT conditions at the target's ``t`` until they hold."""
        nothing = np.zeros(self.n, dtype=np.bool_)
        face = self._solve(nothing, nothing)
        seen: set[bytes] = set()
        for _ in range(_MAX_GUESSES):
            t = target(face.segment(0.0, math.inf))
            if t is None:
                return None
            t = max(t, 0.0)
            broken = face.violations(t)
            if not broken.any():
                return face, t
            low, high = broken[: self.n], broken[self.n :]
            pinned = (face.pinned & ~low) | (~face.pinned & (low | high))
            at_upper = np.where(face.pinned, face.at_upper, high) & pinned
            key = np.packbits(pinned).tobytes() + np.packbits(at_upper).tobytes()
            if pinned.all() or key in seen:
                return None
            seen.add(key)
            face = self._solve(pinned, at_upper)
        return None

    def segments(self) -> Iterator[EfficientSegment]:
        pinned, at_upper = self._min_variance_face()
        t = 0.0
        for _ in range(50 * self.n + 50):
            face = self._solve(pinned, at_upper)
            if face.violations(t).any():
                # A degenerate turning point: several constraints changed at once. Re-solve just past it.
                weights = np.clip(face.base + t * face.slope, self.lower, self.upper)
                t += _NUDGE * (1.0 + t)
                pinned, at_upper = self._primal_active_set(t, weights, pinned, at_upper)
                continue
            falling = face.beta < 0.0
            limits = np.where(falling, face.alpha / np.where(falling, -face.beta, 1.0), math.inf)
            event = int(np.argmin(limits))
            t_end = max(float(limits[event]), t)
            reached_top = (face.returns[0] + t * face.returns[1]) / self.mu_scale >= self.max_return - _TOL
            if reached_top or math.isinf(t_end):
                yield _constant_segment(self.inputs, face.base + t * face.slope, t)
                return
            if t_end > t:
                yield face.segment(t, t_end)
            t = t_end
            asset = event % self.n
            if event >= self.n:  # a free weight reached its upper bound
                pinned[asset], at_upper[asset] = True, True
            elif pinned[asset]:  # a pinned weight's multiplier reached zero: it leaves its bound
                pinned[asset] = False
            else:  # a free weight reached its lower bound
                pinned[asset], at_upper[asset] = True, False
        raise RuntimeError("the efficient path did not terminate; please report the inputs")

    def _solve(self, pinned: BoolArray, at_upper: BoolArray) -> _Face:
        """Weights and multipliers on the face where ``pinned`` weights sit at their bound, for every t."""
        n = self.n
        pinned_weights = (self.lower + at_upper * self.span) * pinned
        self.rows[:n] = ~pinned
        rows = np.flatnonzero(self.rows)  # the free weights and the budget multiplier
        rhs = self.rhs.copy()
        rhs[:, 0] -= self.kkt_left @ pinned_weights
        solution = np.zeros((n + 1, 2))
        solution[:n, 0] = pinned_weights
        solution[rows] = np.linalg.solve(self.kkt.take(rows, 0).take(rows, 1), rhs[rows])
        free_mu = self.mu[rows[:-1]]
        if free_mu.max() == free_mu.min():
            # Equal expected returns on the free weights (one free weight, say): raising t cannot move them.
            # Say so exactly, or rounding noise in the slope would send t to absurd values.
            solution[rows[:-1], 1] = 0.0
            solution[n, 1] = -free_mu[0]
        # kkt @ solution = [cov w - nu, sum(w)]; on each weight, cov w - t mu - nu is the multiplier of its
        # bound constraint: > 0 pushes it down, < 0 up, 0 on free weights.
        products = self.kkt @ solution
        push = products[:n] - self.mu_push
        weights = solution[:n]
        base, slope = weights[:, 0], weights[:, 1]
        sign = 1.0 - 2.0 * at_upper
        alpha = np.where(pinned, sign * push[:, 0], base - self.lower)
        beta = np.where(pinned, sign * push[:, 1], slope)
        alpha = np.concatenate((alpha, np.where(pinned, math.inf, self.upper - base)))
        beta = np.concatenate((beta, np.where(pinned, 0.0, -slope)))
        moments = self.cov_scale * (weights.T @ (products[:n] + solution[n]))
        returns = self.mu_scale * (self.mu @ weights)
        return _Face(pinned, at_upper, base, slope, returns, moments, alpha, beta)

    def _min_variance_face(self) -> tuple[BoolArray, BoolArray]:
        found = self._guess_face(lambda segment: 0.0)
        if found is not None:
            return found[0].pinned.copy(), found[0].at_upper.copy()
        nothing = np.zeros(self.n, dtype=np.bool_)
        start = _project_onto_budget_box(self._solve(nothing, nothing).base, self.lower, self.upper)
        pinned = (start <= self.lower) | (start >= self.upper)
        if pinned.all():
            pinned[int(np.argmax(self.span))] = False
        return self._primal_active_set(0.0, start, pinned, start >= self.upper)

    def _primal_active_set(
        self, t: float, weights: FloatArray, pinned: BoolArray, at_upper: BoolArray
    ) -> tuple[BoolArray, BoolArray]:
        """The optimal face at ``t`` by the primal active-set method from the feasible ``weights``."""
        x, pinned, at_upper = weights.copy(), pinned.copy(), at_upper & pinned
        face = self._solve(pinned, at_upper)
        for _ in range(20 * self.n + 20):
            step = face.base + t * face.slope - x
            if np.abs(step).max() > _TOL:
                with np.errstate(divide="ignore", invalid="ignore"):
                    room = np.where(step < 0.0, (self.lower - x) / step, (self.upper - x) / step)
                room = np.where(pinned | (step == 0.0), math.inf, room)
                blocking = int(np.argmin(room))
                if room[blocking] < 1.0 and pinned.sum() < self.n - 1:  # the last free weight absorbs rounding
                    x += max(float(room[blocking]), 0.0) * step
                    pinned[blocking], at_upper[blocking] = True, bool(step[blocking] > 0.0)
                    x[blocking] = self.upper[blocking] if at_upper[blocking] else self.lower[blocking]
                    face = self._solve(pinned, at_upper)
                    continue
                x += step
            # x is optimal on its face; it is optimal overall when no pinned weight wants to leave its bound.
            multipliers = np.where(pinned, face.alpha[: self.n] + t * face.beta[: self.n], math.inf)
            worst = int(np.argmin(multipliers))
            if multipliers[worst] >= -_TOL * (1.0 + t):
                return pinned, at_upper
            pinned[worst] = False
            face = self._solve(pinned, at_upper)
        raise RuntimeError("the active-set method did not converge; please report the inputs")


def _project_onto_budget_box(z: FloatArray, lower: FloatArray, upper: FloatArray) -> FloatArray:
    """The Euclidean projection of ``z`` onto ``{w : sum(w) = 1, lower <= w <= upper}``: ``clip(z - s)``.

    ``sum(clip(z - s, lower, upper))`` falls piecewise-linearly in the shift ``s``; the right ``s`` lies
    between two of its breakpoints and is found by interpolation.
    """
    shifts = np.sort(np.concatenate([z - upper, z - lower]))
    totals = np.clip(z - shifts[:, np.newaxis], lower, upper).sum(axis=1)  # non-increasing
    k = min(max(int(np.searchsorted(-totals, -1.0, side="right")), 1), len(shifts) - 1)
    left, right = totals[k - 1], totals[k]
    share = 0.0 if left == right else (left - 1.0) / (left - right)
    shift = shifts[k - 1] + share * (shifts[k] - shifts[k - 1])
    return np.asarray(np.clip(z - shift, lower, upper), dtype=np.float64)
