"""Performance and risk figures for a set of assets or bots, from their price or equity series.

This module owns the per-asset scorecard (ROI, annualised return and volatility, Sharpe, Sortino, maximum
drawdown), the correlation of returns, and how a portfolio's risk splits across its holdings (Euler risk
contributions, diversification ratio). Conventions, shared with ``quant.portfolio.estimates``:

- ``values`` is a ``(time, assets)`` panel of prices or account equity, oldest first; NaN means "no value
  yet" (a bot started later, an asset listed later), and each column is scored over its own history;
- returns are simple period returns; figures are annualised with ``frequency`` periods a year and are
  fractions (0.12 = 12 %), the risk-free rate an annual fraction;
- ``annual_return`` is the compound annual growth over the history (PyPortfolioOpt's
  ``mean_historical_return``), so an asset's Sharpe ratio here equals the one the optimiser reports for a
  portfolio holding only that asset;
- Sharpe is ``(annual_return - rf) / annual_volatility``; Sortino is ``(annual_return - rf) / downside``,
  where ``downside`` is the root mean square, over all periods, of the shortfall of each period's return
  below the per-period risk-free rate ``(1 + rf) ** (1 / frequency) - 1``, times ``sqrt(frequency)``; a
  ratio with no risk in its denominator is +inf or -inf by the sign of its numerator, NaN when that is 0;
- maximum drawdown is the worst fall from a running peak, a fraction <= 0 (-0.25: fell 25 % from a peak).

Never reads files or the clock; values must be positive and finite where present (``ValueError`` names
the asset otherwise). Pure: depends only on ``quant.portfolio.estimates``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.portfolio.estimates import (
    TRADING_DAYS_PER_YEAR,
    mean_historical_return,
    return_correlation,
    returns_from_prices,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AssetPerformance:
    """One value per asset (column), each over the asset's own history; fractions, annualised where named."""

    roi: FloatArray  # last value / first value - 1
    annual_return: FloatArray  # compound annual growth rate
    annual_volatility: FloatArray  # sample standard deviation (ddof = 1) of period returns * sqrt(frequency)
    sharpe: FloatArray  # (annual_return - rf) / annual_volatility
    sortino: FloatArray  # (annual_return - rf) / annualised downside deviation
    max_drawdown: FloatArray  # worst peak-to-trough fall, <= 0


def asset_performance(
    values: npt.ArrayLike, frequency: int = TRADING_DAYS_PER_YEAR, risk_free_rate: float = 0.02
) -> AssetPerformance:
    """The scorecard of every column of a ``(time, assets)`` price or equity panel (1-D: one asset)."""
    returns = returns_from_prices(values)
    panel = np.asarray(values, dtype=np.float64).reshape(len(returns) + 1, -1)
    annual_return = mean_historical_return(panel, frequency)
    annual_volatility = np.nanstd(returns, axis=0, ddof=1) * math.sqrt(frequency)
    period_risk_free = (1.0 + risk_free_rate) ** (1.0 / frequency) - 1.0
    shortfall = np.minimum(returns - period_risk_free, 0.0)
    downside = np.sqrt(np.nanmean(shortfall * shortfall, axis=0) * frequency)
    excess = annual_return - risk_free_rate
    return AssetPerformance(
        roi=_last_valid(panel) / _first_valid(panel) - 1.0,
        annual_return=annual_return,
        annual_volatility=annual_volatility,
        sharpe=_ratio(excess, annual_volatility),
        sortino=_ratio(excess, downside),
        max_drawdown=max_drawdown(panel),
    )


def max_drawdown(values: npt.ArrayLike) -> FloatArray:
    """The worst fall from a running peak of each column, a fraction <= 0; NaN cells are skipped."""
    panel = np.asarray(values, dtype=np.float64)
    panel = panel.reshape(len(panel), -1)
    peaks = np.fmax.accumulate(panel, axis=0)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.nanmin(panel / peaks - 1.0, axis=0), dtype=np.float64)


def correlation_matrix(values: npt.ArrayLike) -> FloatArray:
    """Pearson correlation of the columns' simple returns, pairwise-complete; ``(assets, assets)``."""
    return return_correlation(values)


def risk_contributions(weights: npt.ArrayLike, cov: npt.ArrayLike) -> FloatArray:
    """Euler risk contributions ``w_i (Σw)_i / σ_p``, in volatility units; they sum to ``σ_p = sqrt(w'Σw)``.

    A negative contribution is a hedge. Divide by their sum for shares of risk. Raises ``ValueError`` when
    the portfolio has no risk.
    """
    w, sigma = _weights_and_cov(weights, cov)
    marginal = sigma @ w
    volatility = _volatility(w, marginal)
    return np.asarray(w * marginal / volatility, dtype=np.float64)


def diversification_ratio(weights: npt.ArrayLike, cov: npt.ArrayLike) -> float:
    """``Σ w_i σ_i / σ_p``: weighted average volatility over portfolio volatility (>= 1 when long only).

    1 means no diversification (perfectly correlated holdings). Raises ``ValueError`` when the portfolio
    has no risk.
    """
    w, sigma = _weights_and_cov(weights, cov)
    volatility = _volatility(w, sigma @ w)
    return float(w @ np.sqrt(np.diag(sigma)) / volatility)


def _weights_and_cov(weights: npt.ArrayLike, cov: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    w = np.asarray(weights, dtype=np.float64)
    sigma = np.asarray(cov, dtype=np.float64)
    if w.ndim != 1 or sigma.shape != (len(w), len(w)):
        raise ValueError(f"weights {w.shape} and cov {sigma.shape} do not match")
    return w, sigma


def _volatility(weights: FloatArray, marginal: FloatArray) -> float:
    variance = float(weights @ marginal)
    if not variance > 0.0:
        raise ValueError(f"the portfolio has no risk (variance {variance}); its risk cannot be split")
    return math.sqrt(variance)


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        riskless = np.where(numerator == 0.0, np.nan, np.copysign(np.inf, numerator))
        return np.where(denominator > 0.0, numerator / denominator, riskless)


def _first_valid(panel: FloatArray) -> FloatArray:
    present = ~np.isnan(panel)
    return np.asarray(panel[np.argmax(present, axis=0), np.arange(panel.shape[1])], dtype=np.float64)


def _last_valid(panel: FloatArray) -> FloatArray:
    present = ~np.isnan(panel[::-1])
    rows = len(panel) - 1 - np.argmax(present, axis=0)
    return np.asarray(panel[rows, np.arange(panel.shape[1])], dtype=np.float64)
