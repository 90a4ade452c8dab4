"""Expected returns and covariance of asset returns, estimated from price histories.

This module owns the two inputs every portfolio optimisation starts from. Conventions follow
PyPortfolioOpt 1.6.0 and are pinned by its published numbers in the tests:

- prices are a ``(time, assets)`` panel, oldest first; an empty cell (NaN) means "no price that day", e.g.
  before a listing. Period returns are simple returns ``p[t] / p[t-1] - 1``, NaN when either price is
  missing (a gap is never bridged);
- each asset's expected return uses its own non-missing history; the covariance of two assets uses the
  periods where both have a return (pairwise-complete, as pandas' ``DataFrame.cov``), with ``ddof = 1``;
- everything is annualised with ``frequency`` periods a year (252 trading days for daily data) and is a
  fraction (0.12 = 12 % a year);
- a pairwise-complete covariance need not be positive semidefinite; when it is not, negative eigenvalues
  are set to zero (PyPortfolioOpt's "spectral" repair), so the optimiser always gets a valid matrix.

Prices must be positive and finite where present; anything else raises ``ValueError`` naming the asset.
Pure: no I/O, no clock, imports nothing from the rest of the project.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TRADING_DAYS_PER_YEAR = 252


def returns_from_prices(prices: npt.ArrayLike) -> FloatArray:
    """Simple period returns of a ``(time, assets)`` price panel, shape ``(time - 1, assets)``.

    ``returns[t] = prices[t + 1] / prices[t] - 1``; NaN where either price is missing. A 1-D series is
    treated as one asset. Raises ``ValueError`` on a non-positive or infinite price.
    """
    p = _price_panel(prices)
    return p[1:] / p[:-1] - 1.0


def mean_historical_return(
    prices: npt.ArrayLike, frequency: int = TRADING_DAYS_PER_YEAR, compounding: bool = True
) -> FloatArray:
    """Annualised mean return of each asset, a fraction per year, shape ``(assets,)``.

    With ``compounding`` (the default) this is the geometric mean, ``prod(1 + r) ** (frequency / n) - 1``
    over the asset's ``n`` non-missing returns (its CAGR when the history has no gaps); without, the
    arithmetic mean times ``frequency``. Raises ``ValueError`` when an asset has no return at all.
    """
    returns = returns_from_prices(prices)
    present = ~np.isnan(returns)
    counts = present.sum(axis=0)
    if (counts == 0).any():
        raise ValueError(f"asset {int(np.argmin(counts))} has fewer than 2 consecutive prices")
    if compounding:
        growth: FloatArray = np.prod(np.where(present, 1.0 + returns, 1.0), axis=0)
        return np.asarray(growth ** (frequency / counts) - 1.0, dtype=np.float64)
    return np.asarray(np.nansum(returns, axis=0) / counts * frequency, dtype=np.float64)


def sample_covariance(prices: npt.ArrayLike, frequency: int = TRADING_DAYS_PER_YEAR) -> FloatArray:
    """Annualised sample covariance of simple returns, shape ``(assets, assets)``, in (fraction per year)².

    Pairwise-complete: entry ``(i, j)`` uses only the periods where both assets have a return, with its own
    means over those periods and ``ddof = 1``. Repaired to the nearest positive semidefinite matrix (by
    eigenvalue clipping) when it is not one. Raises ``ValueError`` when a pair shares fewer than 2 returns.
    """
    return repair_positive_semidefinite(_pairwise_moments(returns_from_prices(prices))[0] * frequency)


def return_correlation(prices: npt.ArrayLike) -> FloatArray:
    """Pearson correlation of simple returns, pairwise-complete (as pandas' ``DataFrame.corr``), unitless.

    Each pair uses its common periods for the covariance and for both standard deviations, so every entry
    lies in [-1, 1]. An asset whose returns are all equal has an undefined (NaN) correlation.
    """
    cov, var_i, var_j = _pairwise_moments(returns_from_prices(prices))
    scale = np.sqrt(var_i * var_j)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(scale > 0.0, cov / scale, np.nan)
    return np.clip(corr, -1.0, 1.0)


def repair_positive_semidefinite(cov: npt.ArrayLike) -> FloatArray:
    """``cov`` itself when it is positive semidefinite, else ``V diag(max(q, 0)) V'`` from its eigenpairs.

    The test is a Cholesky factorisation of ``cov + 1e-16 I`` (PyPortfolioOpt's), so a matrix that is
    positive definite, or semidefinite up to rounding, passes through unchanged.
    """
    m = np.asarray(cov, dtype=np.float64)
    try:
        np.linalg.cholesky(m + 1e-16 * np.eye(len(m)))
    except np.linalg.LinAlgError:
        eigenvalues, vectors = np.linalg.eigh(m)
        return np.asarray((vectors * np.maximum(eigenvalues, 0.0)) @ vectors.T, dtype=np.float64)
    return m


def _price_panel(prices: npt.ArrayLike) -> FloatArray:
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, np.newaxis]
    if p.ndim != 2 or p.shape[0] < 2 or p.shape[1] < 1:
        raise ValueError(f"prices must be a (time, assets) panel with at least 2 rows, got shape {p.shape}")
    present = ~np.isnan(p)
    bad = present & ~((p > 0.0) & np.isfinite(p))
    if bad.any():
        t, asset = np.argwhere(bad)[0]
        raise ValueError(f"prices must be positive and finite: asset {asset} has {p[t, asset]} at row {t}")
    return p


def _pairwise_moments(returns: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pairwise-complete covariance, and each side's variance over the same periods (``ddof = 1``)."""
    present = (~np.isnan(returns)).astype(np.float64)
    # Centring on each column's own mean first changes no covariance but keeps the sums below well scaled.
    x = np.where(present > 0.0, returns - np.nanmean(returns, axis=0), 0.0)
    n = present.T @ present  # periods shared by each pair
    if (n < 2.0).any():
        i, j = np.argwhere(n < 2.0)[0]
        raise ValueError(f"assets {i} and {j} share fewer than 2 returns; their covariance is undefined")
    sums = x.T @ present  # sums[i, j]: sum of asset i's returns over the periods shared with asset j
    squares = (x * x).T @ present
    cov = (x.T @ x - sums * sums.T / n) / (n - 1.0)
    var_i = (squares - sums * sums / n) / (n - 1.0)
    return cov, var_i, var_i.T
