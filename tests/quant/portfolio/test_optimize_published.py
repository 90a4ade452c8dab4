"""The optimiser reproduces PyPortfolioOpt 1.6.0's published portfolios on its own 20-ticker file."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from quant.portfolio import optimize
from quant.portfolio.optimize import Portfolio
from tests.quant.portfolio.pypfopt_data import PUBLISHED, PUBLISHED_MAX_SHARPE_WEIGHTS, RISK_FREE_RATE, estimates

LONG_ONLY = (0.0, 1.0)
LONG_SHORT = (-1.0, 1.0)


def _run(case: str) -> Portfolio:
    _, mu, cov = estimates()
    rf = RISK_FREE_RATE
    cases: dict[str, Callable[[], Portfolio]] = {
        "min_volatility": lambda: optimize.min_variance(mu, cov, bounds=LONG_ONLY, risk_free_rate=rf),
        "max_sharpe": lambda: optimize.max_sharpe(mu, cov, bounds=LONG_ONLY, risk_free_rate=rf),
        "max_sharpe_long_short": lambda: optimize.max_sharpe(mu, cov, bounds=LONG_SHORT, risk_free_rate=rf),
        "min_volatility_long_short": lambda: optimize.min_variance(mu, cov, bounds=LONG_SHORT, risk_free_rate=rf),
        "efficient_risk_0.19": lambda: optimize.efficient_risk(mu, cov, 0.19, bounds=LONG_ONLY, risk_free_rate=rf),
        "efficient_return_0.25": lambda: optimize.efficient_return(mu, cov, 0.25, bounds=LONG_ONLY, risk_free_rate=rf),
    }
    return cases[case]()


@pytest.mark.parametrize("case", sorted(PUBLISHED))
def test_reproduces_the_published_return_volatility_and_sharpe(case: str) -> None:
    portfolio = _run(case)
    got = (portfolio.expected_return, portfolio.volatility, portfolio.sharpe)
    np.testing.assert_allclose(got, PUBLISHED[case], rtol=0, atol=1e-6)


@pytest.mark.parametrize("case", sorted(set(PUBLISHED) - {"efficient_risk_0.19"}))
def test_matches_the_published_numbers_to_rounding_where_the_peer_solved_exactly(case: str) -> None:
    # Our solutions are exact. PyPortfolioOpt's come from an interior-point solver; they agree to ~1e-15
    # except at a volatility target, which its solver overshot slightly (next test).
    portfolio = _run(case)
    got = (portfolio.expected_return, portfolio.volatility, portfolio.sharpe)
    np.testing.assert_allclose(got, PUBLISHED[case], rtol=0, atol=1e-13)


def test_efficient_risk_lands_exactly_on_the_target_where_the_peer_overshot_it_by_2e_10() -> None:
    portfolio = _run("efficient_risk_0.19")
    assert portfolio.volatility == pytest.approx(0.19, abs=1e-15)
    published_return = PUBLISHED["efficient_risk_0.19"][0]
    assert portfolio.expected_return == pytest.approx(published_return, abs=4e-10)
    # The published portfolio is efficient, but at a volatility 2.1e-10 above the 0.19 asked for.
    _, mu, cov = estimates()
    published = optimize.efficient_return(mu, cov, published_return, bounds=LONG_ONLY)
    assert 1e-10 < published.volatility - 0.19 < 3e-10


def test_max_sharpe_weights_match_the_published_allocation() -> None:
    tickers, _, _ = estimates()
    weights = dict(zip(tickers, _run("max_sharpe").weights, strict=True))
    for ticker, weight in weights.items():
        assert weight == pytest.approx(PUBLISHED_MAX_SHARPE_WEIGHTS.get(ticker, 0.0), abs=1e-4), ticker


@pytest.mark.parametrize("case", sorted(PUBLISHED))
def test_weights_match_pypfopt_solving_the_same_problem(case: str) -> None:
    pd = pytest.importorskip("pandas")
    frontier = pytest.importorskip("pypfopt.efficient_frontier")
    tickers, mu, cov = estimates()
    bounds = LONG_SHORT if case.endswith("long_short") else LONG_ONLY
    peer = frontier.EfficientFrontier(pd.Series(mu, tickers), pd.DataFrame(cov, tickers, tickers), weight_bounds=bounds)
    if case.startswith("min_volatility"):
        peer.min_volatility()
    elif case.startswith("max_sharpe"):
        peer.max_sharpe(risk_free_rate=RISK_FREE_RATE)
    elif case.startswith("efficient_risk"):
        peer.efficient_risk(0.19)
    else:
        peer.efficient_return(0.25)
    np.testing.assert_allclose(_run(case).weights, peer.weights, atol=1e-6)
