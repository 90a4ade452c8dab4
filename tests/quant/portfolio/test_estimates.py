"""Estimates reproduce PyPortfolioOpt's defaults on its own 20-ticker file, gaps and late listings included."""

from __future__ import annotations

import numpy as np
import pytest

from quant.portfolio.estimates import (
    mean_historical_return,
    repair_positive_semidefinite,
    return_correlation,
    returns_from_prices,
    sample_covariance,
)
from tests.quant.portfolio.pypfopt_data import DATA, estimates, read_table, stock_prices


def test_fixture_is_pypfopts_20_ticker_file_with_histories_of_different_lengths() -> None:
    tickers, prices = stock_prices()
    assert prices.shape == (7126, 20)
    assert tickers[:3] == ["GOOG", "AAPL", "FB"]
    listed = (~np.isnan(prices)).sum(axis=0)
    assert listed.min() == 896  # BABA, the latest listing
    assert listed.max() == 7126


def test_mean_returns_match_the_published_values() -> None:
    tickers, mu, _ = estimates()
    by_ticker = dict(zip(tickers, mu, strict=True))
    assert by_ticker["GOOG"] == pytest.approx(0.247967, abs=1e-6)
    assert by_ticker["SBUX"] == pytest.approx(0.2318153, abs=1e-6)


def test_mean_return_is_each_assets_own_cagr_over_its_listed_history() -> None:
    _, prices = stock_prices()
    mu = mean_historical_return(prices)
    for column, expected in zip(prices.T, mu, strict=True):
        listed = column[~np.isnan(column)]
        cagr = (listed[-1] / listed[0]) ** (252 / (len(listed) - 1)) - 1
        assert expected == pytest.approx(cagr, rel=1e-12)


def test_mean_and_covariance_match_pypfopt_computed_on_the_same_file() -> None:
    pd = pytest.importorskip("pandas")
    expected_returns = pytest.importorskip("pypfopt.expected_returns")
    risk_models = pytest.importorskip("pypfopt.risk_models")
    tickers, prices = stock_prices()
    frame = pd.DataFrame(prices, columns=tickers)
    _, mu, cov = estimates()
    np.testing.assert_allclose(mu, expected_returns.mean_historical_return(frame).to_numpy(), rtol=1e-13)
    np.testing.assert_allclose(cov, risk_models.sample_cov(frame).to_numpy(), rtol=1e-12, atol=1e-15)
    arithmetic = expected_returns.mean_historical_return(frame, compounding=False).to_numpy()
    np.testing.assert_allclose(mean_historical_return(prices, compounding=False), arithmetic, rtol=1e-13)


def test_covariance_pins_pypfopts_variances_of_the_file() -> None:
    tickers, _, cov = estimates()
    variance = dict(zip(tickers, np.diag(cov), strict=True))
    assert variance["GOOG"] == pytest.approx(0.093211137, abs=1e-9)
    assert variance["AMD"] == pytest.approx(0.390585714, abs=1e-9)
    assert variance["SBUX"] == pytest.approx(0.152588535, abs=1e-9)


def test_pypfopts_cov_matrix_fixture_is_another_universe_not_the_covariance_of_the_price_file() -> None:
    # PyPortfolioOpt's tests/resources/cov_matrix.csv holds 95 other assets (ETFs, funds), so it cannot pin
    # sample_covariance; the optimiser tests use it as a large, nearly singular real covariance instead.
    labels, columns, cov = read_table(DATA / "pypfopt_cov_matrix.csv")
    tickers, _ = stock_prices()
    assert cov.shape == (95, 95)
    assert labels == columns
    assert set(tickers) - set(columns)
    assert np.linalg.eigvalsh(cov).min() > 0
    assert repair_positive_semidefinite(cov) is cov  # positive definite: passed through untouched


def _gappy_prices() -> np.ndarray:
    """60 days of 3 assets: the second listed on day 20, the third missing on day 40."""
    rng = np.random.default_rng(7)
    prices = 100.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.01, size=(60, 3)), axis=0)
    prices[:20, 1] = np.nan
    prices[40, 2] = np.nan
    return prices


def test_covariance_is_pairwise_complete_over_the_periods_both_assets_have() -> None:
    prices = _gappy_prices()
    r = returns_from_prices(prices)
    cov = sample_covariance(prices, frequency=1)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        both = ~np.isnan(r[:, i]) & ~np.isnan(r[:, j])
        assert cov[i, j] == pytest.approx(np.cov(r[both, i], r[both, j])[0, 1], rel=1e-12)
    assert cov[0, 0] == pytest.approx(np.var(r[:, 0], ddof=1), rel=1e-12)
    assert cov[1, 1] == pytest.approx(np.nanvar(r[:, 1], ddof=1), rel=1e-12)


def test_an_indefinite_pairwise_estimate_is_repaired_as_pypfopt_does() -> None:
    pd = pytest.importorskip("pandas")
    risk_models = pytest.importorskip("pypfopt.risk_models")
    # So few overlapping returns that the pairwise-complete matrix is not positive semidefinite.
    prices = np.array(
        [
            [10.0, np.nan, 5.0],
            [11.0, np.nan, 5.5],
            [10.5, 20.0, 5.2],
            [10.8, 21.0, 5.1],
            [11.2, 20.5, np.nan],
            [11.0, 20.8, 5.3],
            [11.5, 21.5, 5.6],
        ]
    )
    raw = pd.DataFrame(returns_from_prices(prices)).cov().to_numpy()
    assert np.linalg.eigvalsh(raw).min() < 0
    with pytest.warns(UserWarning, match="positive semidefinite"):
        expected = risk_models.sample_cov(pd.DataFrame(prices), frequency=1).to_numpy()
    np.testing.assert_allclose(sample_covariance(prices, frequency=1), expected, rtol=1e-10, atol=1e-15)


def test_a_gap_is_never_bridged_by_a_return() -> None:
    r = returns_from_prices([100.0, np.nan, 121.0, 133.1])
    assert np.isnan(r[:2]).all()
    assert r[2, 0] == pytest.approx(0.1)


def test_covariance_annualises_with_the_frequency() -> None:
    _, prices = stock_prices()
    np.testing.assert_allclose(sample_covariance(prices[-300:], 52), sample_covariance(prices[-300:], 1) * 52)


def test_correlation_is_pairwise_pearson_with_unit_diagonal() -> None:
    pd = pytest.importorskip("pandas")
    _, prices = stock_prices()
    corr = return_correlation(prices)
    expected = pd.DataFrame(returns_from_prices(prices)).corr().to_numpy()
    np.testing.assert_allclose(corr, expected, atol=1e-12)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert np.abs(corr).max() <= 1.0


def test_an_indefinite_covariance_is_repaired_by_clipping_negative_eigenvalues() -> None:
    indefinite = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.9], [0.1, 0.9, 1.0]])
    assert np.linalg.eigvalsh(indefinite).min() < 0
    repaired = repair_positive_semidefinite(indefinite)
    assert np.linalg.eigvalsh(repaired).min() > -1e-12
    np.testing.assert_allclose(repaired, repaired.T)
    definite = np.eye(3)
    assert repair_positive_semidefinite(definite) is definite


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ([[1.0, 2.0], [1.1, -2.0]], "asset 1 has -2.0 at row 1"),
        ([[1.0, 2.0], [np.inf, 2.0]], "asset 0 has inf"),
        ([[1.0, 2.0]], "at least 2 rows"),
    ],
)
def test_bad_prices_are_refused_naming_the_asset(prices: list[list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mean_historical_return(prices)


def test_assets_without_a_common_history_have_no_covariance() -> None:
    prices = [[1.0, np.nan], [1.1, np.nan], [1.2, np.nan], [np.nan, 5.0], [np.nan, 5.1], [np.nan, 5.2]]
    with pytest.raises(ValueError, match="assets 0 and 1 share fewer than 2 returns"):
        sample_covariance(prices)
