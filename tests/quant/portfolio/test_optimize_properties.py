"""Properties of the optimiser on random problems: feasible weights, and no feasible portfolio does better.

Problems are drawn from a seed (derandomized Hypothesis): 2-12 assets, a random positive definite
covariance, expected returns with or without ties, and one of four kinds of bounds (long only, long/short
in [-1, 1], random per-asset bounds, a common cap). Each optimum is checked against 300 random feasible
portfolios (random points of the box shifted onto the budget, and random vertices), against scipy's
linear programme for the maximum return, and against the walk along the efficient path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from quant.portfolio import frontier, optimize
from quant.portfolio.optimize import Portfolio

RF = 0.02
SAMPLES = 300
seeds = st.integers(min_value=0, max_value=2**32 - 1)
property_settings = settings(max_examples=60, derandomize=True, deadline=None)


@dataclass(frozen=True)
class Problem:
    mu: np.ndarray
    cov: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lower, self.upper


def _problem(seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 13))
    factors = rng.normal(size=(n, n + int(rng.integers(0, 6)))) * rng.uniform(0.05, 0.5)
    cov = factors @ factors.T / factors.shape[1] + np.eye(n) * rng.uniform(1e-4, 1e-2)
    mu = rng.normal(0.1, 0.1, size=n)
    if rng.random() < 0.3:
        mu = np.round(mu, 1)  # ties
    kind = int(rng.integers(0, 4))
    if kind == 0:
        lower, upper = np.zeros(n), np.ones(n)
    elif kind == 1:
        lower, upper = -np.ones(n), np.ones(n)
    elif kind == 2:
        lower = rng.uniform(-0.2, 1.0 / n, size=n)
        upper = lower + rng.uniform(0.0, 0.6, size=n)
        upper[0] += max(0.0, 1.0 - upper.sum())  # make room for the budget
    else:
        lower, upper = np.zeros(n), np.full(n, rng.uniform(1.0 / n, 1.0))
    return Problem(mu, cov, lower, upper)


def _random_feasible(problem: Problem, rng: np.random.Generator) -> np.ndarray:
    """Random fully invested portfolios within the bounds: box points shifted onto the budget, and vertices."""
    lower, upper = problem.lower, problem.upper
    vertices = []
    for _ in range(SAMPLES // 3):  # fill the assets in a random order
        w = lower.copy()
        for i in rng.permutation(len(w)):
            w[i] += min(upper[i] - lower[i], 1.0 - w.sum())
        vertices.append(w)
    z = rng.uniform(lower, upper, size=(SAMPLES - len(vertices), len(lower)))
    low, high = np.full(len(z), -3.0), np.full(len(z), 3.0)
    for _ in range(100):  # bisection on each point's shift s: sum(clip(z - s)) falls as s rises
        s = (low + high) / 2
        over = np.clip(z - s[:, None], lower, upper).sum(axis=1) > 1.0
        low, high = np.where(over, s, low), np.where(over, high, s)
    shifted = np.clip(z - ((low + high) / 2)[:, None], lower, upper)
    return np.vstack([np.array(vertices), shifted])


def _assert_feasible(weights: np.ndarray, problem: Problem) -> None:
    assert weights.sum() == pytest.approx(1.0, abs=1e-10)
    assert (weights >= problem.lower - 1e-10).all()
    assert (weights <= problem.upper + 1e-10).all()


@property_settings
@given(seed=seeds)
def test_min_variance_is_feasible_and_no_feasible_portfolio_is_less_volatile(seed: int) -> None:
    problem = _problem(seed)
    best = optimize.min_variance(problem.mu, problem.cov, bounds=problem.bounds)
    _assert_feasible(best.weights, problem)
    others = _random_feasible(problem, np.random.default_rng(seed))
    variances = np.einsum("ki,ij,kj->k", others, problem.cov, others)
    assert best.volatility**2 <= variances.min() * (1 + 1e-9) + 1e-15


@property_settings
@given(seed=seeds)
def test_max_sharpe_is_feasible_and_no_feasible_portfolio_has_a_higher_sharpe_ratio(seed: int) -> None:
    problem = _problem(seed)
    top = optimize.max_return(problem.mu, problem.cov, bounds=problem.bounds)
    if top.expected_return <= RF:
        with pytest.raises(ValueError, match="risk-free rate"):
            optimize.max_sharpe(problem.mu, problem.cov, bounds=problem.bounds, risk_free_rate=RF)
        return
    best = optimize.max_sharpe(problem.mu, problem.cov, bounds=problem.bounds, risk_free_rate=RF)
    _assert_feasible(best.weights, problem)
    others = _random_feasible(problem, np.random.default_rng(seed))
    sharpes = (others @ problem.mu - RF) / np.sqrt(np.einsum("ki,ij,kj->k", others, problem.cov, others))
    assert best.sharpe >= sharpes.max() - 1e-9


@property_settings
@given(seed=seeds)
def test_max_return_is_feasible_and_equals_scipys_linear_programme(seed: int) -> None:
    problem = _problem(seed)
    best = optimize.max_return(problem.mu, problem.cov, bounds=problem.bounds)
    _assert_feasible(best.weights, problem)
    n = len(problem.mu)
    lp = linprog(
        -problem.mu, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=list(zip(problem.lower, problem.upper, strict=True))
    )
    assert best.expected_return == pytest.approx(-lp.fun, abs=1e-12)
    others = _random_feasible(problem, np.random.default_rng(seed))
    assert best.expected_return >= (others @ problem.mu).max() - 1e-12


@property_settings
@given(seed=seeds, where=st.floats(min_value=0.0, max_value=1.0))
def test_efficient_return_is_the_least_volatile_portfolio_reaching_the_target(seed: int, where: float) -> None:
    problem = _problem(seed)
    floor = optimize.min_variance(problem.mu, problem.cov, bounds=problem.bounds)
    top = optimize.max_return(problem.mu, problem.cov, bounds=problem.bounds)
    target = floor.expected_return + where * (top.expected_return - floor.expected_return)
    best = optimize.efficient_return(problem.mu, problem.cov, target, bounds=problem.bounds)
    _assert_feasible(best.weights, problem)
    assert best.expected_return >= target - 1e-12
    others = _random_feasible(problem, np.random.default_rng(seed))
    reaching = others[others @ problem.mu >= target]
    variances = np.einsum("ki,ij,kj->k", reaching, problem.cov, reaching)
    assert best.volatility**2 <= variances.min(initial=np.inf) * (1 + 1e-9) + 1e-15


@property_settings
@given(seed=seeds, where=st.floats(min_value=0.0, max_value=1.0))
def test_efficient_risk_earns_the_most_within_the_volatility_budget(seed: int, where: float) -> None:
    problem = _problem(seed)
    floor = optimize.min_variance(problem.mu, problem.cov, bounds=problem.bounds)
    top = optimize.max_return(problem.mu, problem.cov, bounds=problem.bounds)
    budget = floor.volatility + where * (top.volatility - floor.volatility)
    best = optimize.efficient_risk(problem.mu, problem.cov, budget, bounds=problem.bounds)
    _assert_feasible(best.weights, problem)
    assert best.volatility <= budget * (1 + 1e-12)
    others = _random_feasible(problem, np.random.default_rng(seed))
    within = others[np.sqrt(np.einsum("ki,ij,kj->k", others, problem.cov, others)) <= budget]
    assert best.expected_return >= (within @ problem.mu).max(initial=-np.inf) - 1e-12


@property_settings
@given(seed=seeds)
def test_the_fast_guess_and_the_walk_along_the_path_find_the_same_portfolios(seed: int) -> None:
    problem = _problem(seed)
    top = optimize.max_return(problem.mu, problem.cov, bounds=problem.bounds)
    floor = optimize.min_variance(problem.mu, problem.cov, bounds=problem.bounds)
    middle = (floor.expected_return + top.expected_return) / 2
    calls: list[Callable[[], Portfolio]] = [
        lambda: optimize.min_variance(problem.mu, problem.cov, bounds=problem.bounds),
        lambda: optimize.efficient_return(problem.mu, problem.cov, middle, bounds=problem.bounds),
    ]
    if top.expected_return > RF:
        calls.append(lambda: optimize.max_sharpe(problem.mu, problem.cov, bounds=problem.bounds))
    guessed = [call().weights for call in calls]
    saved = frontier._MAX_GUESSES
    frontier._MAX_GUESSES = 0
    try:
        walked = [call().weights for call in calls]
    finally:
        frontier._MAX_GUESSES = saved
    for a, b in zip(guessed, walked, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
