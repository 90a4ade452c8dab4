"""PyPortfolioOpt's own test data, read with the csv module (no pandas at runtime), and its published numbers.

The numbers are those PyPortfolioOpt 1.6.0 asserts on ``tests/resources/stock_prices.csv`` (see
``tests/data/SOURCES.md``): expected returns are the geometric annual mean (252 periods), the covariance
the pairwise-complete sample covariance x 252, the risk-free rate 0.02.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from quant.portfolio.estimates import mean_historical_return, sample_covariance

DATA = Path(__file__).resolve().parents[2] / "data"
FloatArray = npt.NDArray[np.float64]
RISK_FREE_RATE = 0.02


def read_table(path: Path) -> tuple[list[str], list[str], FloatArray]:
    """(row labels, column names, values) of a CSV whose first column labels the rows; empty cells -> NaN."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    columns = rows[0][1:]
    labels = [row[0] for row in rows[1:]]
    values = np.array([[float(cell) if cell else np.nan for cell in row[1:]] for row in rows[1:]])
    return labels, columns, values


@cache
def stock_prices() -> tuple[list[str], FloatArray]:
    """(tickers, prices (7126, 20)): adjusted closes, NaN before each listing."""
    _, tickers, prices = read_table(DATA / "pypfopt_stock_prices.csv")
    return tickers, prices


@cache
def estimates() -> tuple[list[str], FloatArray, FloatArray]:
    """(tickers, expected annual returns, annual covariance) as PyPortfolioOpt computes them by default."""
    tickers, prices = stock_prices()
    return tickers, mean_historical_return(prices), sample_covariance(prices)


# (expected return, volatility, Sharpe), annual fractions, from ANSWER_KEYS.md.
PUBLISHED = {
    "min_volatility": (0.15056821399482578, 0.15915084514118694, 0.8204054077060996),
    "max_sharpe": (0.3047768672819914, 0.22165566922402932, 1.2847714127003216),
    "max_sharpe_long_short": (0.4937195216716211, 0.29516576454651955, 1.6049270564945908),
    "min_volatility_long_short": (0.1516319319875544, 0.1555915367269669, 0.8460095886741129),
    "efficient_risk_0.19": (0.2552422849133517, 0.19, 1.2381172871434818),
    "efficient_return_0.25": (0.25, 0.18723269942026335, 1.2284179030274036),
}

# The published max-Sharpe weights (4 decimals); every other ticker holds 0.
PUBLISHED_MAX_SHARPE_WEIGHTS = {
    "MA": 0.3535,
    "FB": 0.206,
    "PFE": 0.1957,
    "BABA": 0.0732,
    "AAPL": 0.0689,
    "AMZN": 0.0403,
    "GOOG": 0.0384,
    "BBY": 0.0132,
    "SBUX": 0.0108,
}
