"""Portfolio construction: estimates from prices, Markowitz optimisation under bounds, analysis, rebalancing.

- ``estimates``: expected returns and covariance from a price panel (PyPortfolioOpt's conventions);
- ``optimize``: the conservative / moderate / aggressive portfolios, return and risk targets, the frontier;
- ``frontier``: the exact solver behind ``optimize`` (the efficient path of a bounded, fully invested book);
- ``analysis``: per-asset scorecards, correlation, risk contributions, diversification ratio;
- ``rebalance``: trades from current to target weights and the "is it worth it" rule.

Everything here is pure numpy/scipy: no I/O, no clock, nothing imported from the rest of AEGIS. Units are
annualised fractions unless a name says otherwise.
"""

from quant.portfolio.analysis import (
    AssetPerformance,
    asset_performance,
    correlation_matrix,
    diversification_ratio,
    max_drawdown,
    risk_contributions,
)
from quant.portfolio.estimates import mean_historical_return, returns_from_prices, sample_covariance
from quant.portfolio.optimize import (
    DEFAULT_BOUNDS,
    DEFAULT_RISK_FREE_RATE,
    Portfolio,
    RiskProfile,
    efficient_frontier,
    efficient_return,
    efficient_risk,
    evaluate,
    max_return,
    max_sharpe,
    min_variance,
    optimize_for_profile,
)
from quant.portfolio.rebalance import RebalanceProposal, WeightChange, propose_rebalance

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_RISK_FREE_RATE",
    "AssetPerformance",
    "Portfolio",
    "RebalanceProposal",
    "RiskProfile",
    "WeightChange",
    "asset_performance",
    "correlation_matrix",
    "diversification_ratio",
    "efficient_frontier",
    "efficient_return",
    "efficient_risk",
    "evaluate",
    "max_drawdown",
    "max_return",
    "max_sharpe",
    "mean_historical_return",
    "min_variance",
    "optimize_for_profile",
    "propose_rebalance",
    "returns_from_prices",
    "risk_contributions",
    "sample_covariance",
]
