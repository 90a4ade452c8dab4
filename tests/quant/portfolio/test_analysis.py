"""Scorecards and risk splits: hand-checkable cases, and consistency with the optimiser's own figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.portfolio import analysis, optimize
from tests.quant.portfolio.pypfopt_data import DATA, estimates, read_table, stock_prices


def test_roi_cagr_and_drawdown_of_a_hand_made_equity_curve() -> None:
    equity = [100.0, 120.0, 90.0, 60.0, 150.0]  # four periods, a year of four periods
    card = analysis.asset_performance(equity, frequency=4, risk_free_rate=0.0)
    assert card.roi[0] == pytest.approx(0.5)
    assert card.annual_return[0] == pytest.approx(0.5)  # exactly one year
    assert card.max_drawdown[0] == pytest.approx(60.0 / 120.0 - 1.0)


def test_volatility_sharpe_and_sortino_follow_their_definitions() -> None:
    equity = np.array([100.0, 102.0, 101.0, 104.0, 103.0, 107.0])
    r = equity[1:] / equity[:-1] - 1
    card = analysis.asset_performance(equity, frequency=252, risk_free_rate=0.03)
    cagr = (equity[-1] / equity[0]) ** (252 / 5) - 1
    volatility = r.std(ddof=1) * math.sqrt(252)
    period_rf = 1.03 ** (1 / 252) - 1
    downside = math.sqrt(np.mean(np.minimum(r - period_rf, 0.0) ** 2) * 252)
    assert card.annual_volatility[0] == pytest.approx(volatility)
    assert card.sharpe[0] == pytest.approx((cagr - 0.03) / volatility)
    assert card.sortino[0] == pytest.approx((cagr - 0.03) / downside)


def test_an_asset_that_never_falls_short_has_infinite_sortino_and_no_drawdown() -> None:
    card = analysis.asset_performance([100.0, 101.0, 102.0, 104.0], risk_free_rate=0.0)
    assert card.sortino[0] == math.inf
    assert card.max_drawdown[0] == 0.0


def test_a_flat_series_has_undefined_ratios() -> None:
    card = analysis.asset_performance([100.0, 100.0, 100.0], risk_free_rate=0.0)
    assert math.isnan(card.sharpe[0])
    assert math.isnan(card.sortino[0])


def test_each_asset_is_scored_over_its_own_history() -> None:
    tickers, prices = stock_prices()
    card = analysis.asset_performance(prices)
    baba = prices[:, tickers.index("BABA")]
    listed = baba[~np.isnan(baba)]
    assert card.roi[tickers.index("BABA")] == pytest.approx(listed[-1] / listed[0] - 1)
    assert np.isfinite(card.max_drawdown).all()
    assert (card.max_drawdown <= 0).all()


def test_an_assets_sharpe_equals_the_optimisers_for_a_portfolio_of_that_asset_alone() -> None:
    _, prices = stock_prices()
    _, mu, cov = estimates()
    card = analysis.asset_performance(prices, risk_free_rate=0.02)
    for i in range(len(mu)):
        alone = optimize.evaluate(np.eye(len(mu))[i], mu, cov, 0.02)
        assert card.sharpe[i] == pytest.approx(alone.sharpe, rel=1e-12)
        assert card.annual_volatility[i] == pytest.approx(alone.volatility, rel=1e-12)


def test_correlation_matrix_is_symmetric_with_unit_diagonal() -> None:
    _, prices = stock_prices()
    corr = analysis.correlation_matrix(prices)
    np.testing.assert_allclose(corr, corr.T)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert (np.abs(corr) <= 1.0).all()


def test_risk_contributions_sum_to_the_portfolio_volatility() -> None:
    _, _, cov = read_table(DATA / "pypfopt_cov_matrix.csv")
    weights = np.random.default_rng(3).dirichlet(np.ones(95))
    contributions = analysis.risk_contributions(weights, cov)
    assert contributions.sum() == pytest.approx(math.sqrt(weights @ cov @ weights), rel=1e-12)


def test_the_minimum_variance_portfolio_has_equal_marginal_risk_across_its_free_holdings() -> None:
    _, mu, cov = estimates()
    weights = optimize.min_variance(mu, cov, bounds=(0.0, 1.0)).weights
    contributions = analysis.risk_contributions(weights, cov)
    held = weights > 1e-9
    marginal = contributions[held] / weights[held]
    np.testing.assert_allclose(marginal, marginal[0], rtol=1e-9)


def test_equal_weights_of_identical_uncorrelated_assets_split_risk_evenly() -> None:
    contributions = analysis.risk_contributions([0.25] * 4, np.eye(4) * 0.04)
    np.testing.assert_allclose(contributions, 0.025)  # portfolio volatility 0.1, split four ways
    assert analysis.diversification_ratio([0.25] * 4, np.eye(4) * 0.04) == pytest.approx(2.0)  # sqrt(4)


def test_a_hedge_has_a_negative_risk_contribution() -> None:
    cov = np.array([[0.04, 0.03], [0.03, 0.04]])
    contributions = analysis.risk_contributions([1.2, -0.2], cov)
    assert contributions[1] < 0 < contributions[0]


def test_perfectly_correlated_holdings_do_not_diversify() -> None:
    vols = np.array([0.1, 0.2, 0.3])
    cov = np.outer(vols, vols)
    assert analysis.diversification_ratio([0.2, 0.3, 0.5], cov) == pytest.approx(1.0)


def test_risk_of_a_riskless_book_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="no risk"):
        analysis.risk_contributions([0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="do not match"):
        analysis.diversification_ratio([0.5, 0.5], np.eye(3))
