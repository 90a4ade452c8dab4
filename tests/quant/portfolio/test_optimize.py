"""The optimiser's contract: bounds, profiles, targets, the frontier, and clear refusals of impossible asks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from quant.portfolio import frontier, optimize
from quant.portfolio.optimize import Portfolio, RiskProfile
from tests.quant.portfolio.pypfopt_data import DATA, estimates, read_table

LONG_ONLY = (0.0, 1.0)


def _ten_assets() -> tuple[np.ndarray, np.ndarray]:
    _, mu, cov = estimates()
    return mu[:10], cov[:10, :10]


def _kkt_residual(weights: np.ndarray, gradient: np.ndarray, lower: float, upper: float) -> float:
    """How far ``weights`` are from the KKT conditions of minimising a convex function over the budget box."""
    free = (weights > lower + 1e-9) & (weights < upper - 1e-9)
    nu = float(np.median(gradient[free]))  # the budget multiplier: the gradient is flat on free weights
    push = gradient - nu
    at_lower, at_upper = weights <= lower + 1e-9, weights >= upper - 1e-9
    return float(
        max(
            np.abs(push[free]).max(initial=0.0),
            (-push[at_lower]).max(initial=0.0),
            push[at_upper].max(initial=0.0),
        )
    )


def test_default_bounds_keep_every_weight_between_5_and_40_percent() -> None:
    mu, cov = _ten_assets()
    for profile in RiskProfile:
        weights = optimize.optimize_for_profile(profile, mu, cov).weights
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert weights.min() >= 0.05 - 1e-12
        assert weights.max() <= 0.40 + 1e-12


def test_twenty_assets_at_5_percent_minimum_leave_only_equal_weights() -> None:
    _, mu, cov = estimates()
    for profile in RiskProfile:
        np.testing.assert_allclose(optimize.optimize_for_profile(profile, mu, cov).weights, 0.05)


def test_more_than_twenty_assets_cannot_meet_the_default_5_percent_floor() -> None:
    with pytest.raises(ValueError, match=r"bounds cannot sum to 1: the lower bounds sum to 1\.05 > 1"):
        optimize.min_variance(np.full(21, 0.1), np.eye(21))


def test_profiles_are_min_variance_max_sharpe_and_max_return() -> None:
    mu, cov = _ten_assets()
    pairs = [
        (RiskProfile.CONSERVATIVE, optimize.min_variance),
        (RiskProfile.MODERATE, optimize.max_sharpe),
        (RiskProfile.AGGRESSIVE, optimize.max_return),
    ]
    for profile, optimiser in pairs:
        by_profile = optimize.optimize_for_profile(profile.value, mu, cov, bounds=LONG_ONLY)
        np.testing.assert_array_equal(by_profile.weights, optimiser(mu, cov, bounds=LONG_ONLY).weights)


def test_conservative_is_least_volatile_and_aggressive_earns_most() -> None:
    mu, cov = _ten_assets()
    conservative, moderate, aggressive = (optimize.optimize_for_profile(p, mu, cov) for p in RiskProfile)
    assert conservative.volatility < moderate.volatility < aggressive.volatility
    assert conservative.expected_return < moderate.expected_return < aggressive.expected_return
    assert moderate.sharpe > max(conservative.sharpe, aggressive.sharpe)


def test_per_asset_bounds_are_respected() -> None:
    tickers, mu, cov = estimates()
    upper = np.ones(20)
    upper[tickers.index("MA")] = 0.10
    weights = optimize.max_sharpe(mu, cov, bounds=(0.0, upper)).weights
    assert weights[tickers.index("MA")] == pytest.approx(0.10, abs=1e-15)
    assert weights.min() >= 0.0


def test_the_portfolio_reports_annualised_figures_of_its_weights() -> None:
    mu, cov = _ten_assets()
    portfolio = optimize.max_sharpe(mu, cov, bounds=LONG_ONLY, risk_free_rate=0.03)
    w = portfolio.weights
    assert portfolio.expected_return == pytest.approx(w @ mu, rel=1e-14)
    assert portfolio.volatility == pytest.approx(np.sqrt(w @ cov @ w), rel=1e-14)
    assert portfolio.sharpe == pytest.approx((w @ mu - 0.03) / np.sqrt(w @ cov @ w), rel=1e-14)
    assert portfolio.risk_free_rate == 0.03
    with pytest.raises(dataclasses.FrozenInstanceError):
        portfolio.sharpe = 9.0  # type: ignore[misc]


def test_evaluate_counts_uninvested_capital_as_cash_at_the_risk_free_rate() -> None:
    mu, cov = _ten_assets()
    half = np.zeros(10)
    half[0] = 0.5
    portfolio = optimize.evaluate(half, mu, cov, 0.02)
    assert portfolio.expected_return == pytest.approx(0.5 * mu[0] + 0.5 * 0.02)
    assert portfolio.volatility == pytest.approx(0.5 * np.sqrt(cov[0, 0]))
    all_cash = optimize.evaluate(np.zeros(10), mu, cov, 0.02)
    assert (all_cash.expected_return, all_cash.volatility, all_cash.sharpe) == (0.02, 0.0, 0.0)


def test_min_variance_meets_the_kkt_conditions_on_a_95_asset_nearly_singular_covariance() -> None:
    _, _, cov = read_table(DATA / "pypfopt_cov_matrix.csv")
    for lower, upper in [(0.0, 1.0), (0.0, 0.05), (-0.5, 0.5)]:
        weights = optimize.min_variance(np.zeros(95), cov, bounds=(lower, upper)).weights
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert weights.min() >= lower - 1e-12
        assert weights.max() <= upper + 1e-12
        assert _kkt_residual(weights, cov @ weights, lower, upper) < 1e-12


def test_min_variance_on_the_95_asset_covariance_beats_pypfopts_interior_point_answer() -> None:
    # The covariance is nearly singular (smallest eigenvalue 2e-6), so the minimum is flat and an
    # interior-point solver stops early: PyPortfolioOpt's volatility is 1.2 % above the exact minimum.
    frontier_module = pytest.importorskip("pypfopt.efficient_frontier")
    labels, _, cov = read_table(DATA / "pypfopt_cov_matrix.csv")
    peer = frontier_module.EfficientFrontier(None, cov, weight_bounds=LONG_ONLY)
    peer.min_volatility()
    peer_volatility = float(np.sqrt(peer.weights @ cov @ peer.weights))
    ours = optimize.min_variance(np.zeros(len(labels)), cov, bounds=LONG_ONLY)
    assert ours.volatility == pytest.approx(0.0016485580493513716, rel=1e-9)
    assert ours.volatility < peer_volatility < ours.volatility * 1.02


def test_a_target_return_below_the_minimum_variance_portfolios_gives_that_portfolio() -> None:
    mu, cov = _ten_assets()
    floor = optimize.min_variance(mu, cov, bounds=LONG_ONLY)
    low = optimize.efficient_return(mu, cov, floor.expected_return - 0.05, bounds=LONG_ONLY)
    np.testing.assert_allclose(low.weights, floor.weights, atol=1e-14)


def test_a_volatility_budget_above_the_riskiest_portfolio_buys_the_maximum_return() -> None:
    mu, cov = _ten_assets()
    top = optimize.max_return(mu, cov, bounds=LONG_ONLY)
    generous = optimize.efficient_risk(mu, cov, top.volatility + 0.5, bounds=LONG_ONLY)
    assert generous.expected_return == pytest.approx(top.expected_return, abs=1e-14)


def test_targets_at_the_ends_of_the_frontier_are_reachable() -> None:
    mu, cov = _ten_assets()
    floor = optimize.min_variance(mu, cov, bounds=LONG_ONLY)
    top = optimize.max_return(mu, cov, bounds=LONG_ONLY)
    at_top = optimize.efficient_return(mu, cov, top.expected_return, bounds=LONG_ONLY)
    assert at_top.expected_return == pytest.approx(top.expected_return, abs=1e-14)
    at_floor = optimize.efficient_risk(mu, cov, floor.volatility, bounds=LONG_ONLY)
    assert at_floor.volatility == pytest.approx(floor.volatility, abs=1e-12)


def test_the_frontier_runs_from_minimum_variance_to_maximum_return_at_even_return_steps() -> None:
    mu, cov = _ten_assets()
    points = optimize.efficient_frontier(mu, cov, 9, bounds=LONG_ONLY)
    returns = np.array([p.expected_return for p in points])
    volatilities = np.array([p.volatility for p in points])
    assert len(points) == 9
    assert returns[0] == pytest.approx(optimize.min_variance(mu, cov, bounds=LONG_ONLY).expected_return, abs=1e-14)
    assert returns[-1] == pytest.approx(optimize.max_return(mu, cov, bounds=LONG_ONLY).expected_return, abs=1e-14)
    np.testing.assert_allclose(np.diff(returns), np.diff(returns)[0], rtol=1e-9)
    assert (np.diff(volatilities) > 0).all()
    for point in points[1:-1]:
        direct = optimize.efficient_return(mu, cov, point.expected_return, bounds=LONG_ONLY)
        np.testing.assert_allclose(point.weights, direct.weights, atol=1e-12)


def test_equal_expected_returns_make_max_sharpe_the_minimum_variance_portfolio() -> None:
    _, cov = _ten_assets()
    mu = np.full(10, 0.1)
    np.testing.assert_allclose(
        optimize.max_sharpe(mu, cov, bounds=LONG_ONLY).weights,
        optimize.min_variance(mu, cov, bounds=LONG_ONLY).weights,
        atol=1e-14,
    )


def test_max_return_fills_the_best_assets_up_to_their_caps() -> None:
    mu = np.array([0.05, 0.30, 0.20, 0.30])
    weights = optimize.max_return(mu, np.eye(4), bounds=(0.1, 0.35)).weights
    np.testing.assert_allclose(weights, [0.1, 0.35, 0.2, 0.35])


def test_a_fixed_weight_stays_fixed() -> None:
    mu, cov = _ten_assets()
    lower, upper = np.zeros(10), np.ones(10)
    lower[3] = upper[3] = 0.25
    for optimiser in (optimize.min_variance, optimize.max_sharpe, optimize.max_return):
        assert optimiser(mu, cov, bounds=(lower, upper)).weights[3] == pytest.approx(0.25, abs=1e-15)


def test_a_single_asset_portfolio_is_all_in() -> None:
    for optimiser in (optimize.min_variance, optimize.max_sharpe, optimize.max_return):
        assert optimiser([0.1], [[0.04]], bounds=LONG_ONLY).weights.tolist() == [1.0]


def test_the_walk_along_the_path_agrees_with_the_fast_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    _, mu, cov = estimates()
    calls: list[Callable[[], Portfolio]] = [
        lambda: optimize.min_variance(mu, cov, bounds=LONG_ONLY),
        lambda: optimize.max_sharpe(mu, cov, bounds=LONG_ONLY),
        lambda: optimize.max_sharpe(mu, cov, bounds=(-1.0, 1.0)),
        lambda: optimize.efficient_risk(mu, cov, 0.19, bounds=LONG_ONLY),
        lambda: optimize.efficient_return(mu, cov, 0.25, bounds=(0.0, 0.3)),
    ]
    guessed = [call().weights for call in calls]
    monkeypatch.setattr(frontier, "_MAX_GUESSES", 0)
    for weights, call in zip(guessed, calls, strict=True):
        np.testing.assert_allclose(call().weights, weights, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda mu, cov: optimize.min_variance(mu, cov, bounds=(0.0, 0.05)), "upper bounds sum to 0.5 < 1"),
        (lambda mu, cov: optimize.min_variance(mu, cov, bounds=(0.3, 0.2)), "lower bound above upper bound"),
        (lambda mu, cov: optimize.min_variance(mu, cov, bounds=(0.0, np.inf)), "bounds must be finite"),
        (lambda mu, cov: optimize.efficient_return(mu, cov, 0.9, bounds=LONG_ONLY), "above the maximum"),
        (lambda mu, cov: optimize.efficient_risk(mu, cov, 0.01, bounds=LONG_ONLY), "below the minimum"),
        (lambda mu, cov: optimize.max_sharpe(mu - 1.0, cov, bounds=LONG_ONLY), "exceeds the risk-free rate"),
        (lambda mu, cov: optimize.min_variance(mu[:9], cov), r"cov must have shape \(9, 9\)"),
        (lambda mu, cov: optimize.min_variance(mu * np.nan, cov), "must be finite"),
        (lambda mu, cov: optimize.min_variance(mu, cov - np.eye(10)), "positive definite"),
        (lambda mu, cov: optimize.min_variance(mu, cov + np.triu(cov, 1)), "symmetric"),
        (lambda mu, cov: optimize.efficient_frontier(mu, cov, 1), "at least 2"),
    ],
)
def test_impossible_asks_are_refused_with_the_reason(call, message: str) -> None:
    mu, cov = _ten_assets()
    with pytest.raises(ValueError, match=message):
        call(mu, cov)
