"""Benchmark: ``quant.portfolio.optimize`` against PyPortfolioOpt 1.6.0 on the same 20-asset inputs.

    python -m evals.bench_quant.portfolio [--repeats 300]

Inputs: PyPortfolioOpt's own 20-ticker price file (``tests/data/pypfopt_stock_prices.csv``); expected
returns and covariance are estimated once (``quant.portfolio.estimates``, equal to PyPortfolioOpt's to
1e-15) and the same numbers go to both sides. Every call is timed on its own with ``time.perf_counter``;
rows report the median (the printed table also shows the best). The peer is called as a user calls it:
``EfficientFrontier(mu, S, weight_bounds=...)`` is built and solved inside the timed region (cvxpy model
plus its default solver); ours validates its inputs on every call too. The risk-free rate is 0.02.

With the default bounds 5 %..40 %, 20 assets can only be held at 5 % each: both sides return equal weights,
so that row measures fixed costs; the other rows are real optimisations.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from quant.portfolio import optimize
from quant.portfolio.estimates import mean_historical_return, sample_covariance
from quant.portfolio.optimize import Portfolio

PRICES = Path(__file__).resolve().parents[2] / "tests" / "data" / "pypfopt_stock_prices.csv"
RISK_FREE_RATE = 0.02
FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")
Row = tuple[str, float, float, float]  # case, our seconds, peer seconds, max |weight difference|


@dataclass(frozen=True)
class Case:
    name: str
    bounds: tuple[float, float]
    ours: Callable[[FloatArray, FloatArray, tuple[float, float]], Portfolio]
    peer: Callable[[Any], object]  # solves a fresh EfficientFrontier


@dataclass(frozen=True)
class Measured:
    name: str
    ours_median: float
    ours_best: float
    peer_median: float
    peer_best: float
    weight_difference: float
    objective_difference: float
    objective: str


CASES = (
    Case(
        "max_sharpe, 20 assets, w in [5%, 40%]",
        (0.05, 0.40),
        lambda mu, cov, b: optimize.max_sharpe(mu, cov, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.max_sharpe(risk_free_rate=RISK_FREE_RATE),
    ),
    Case(
        "max_sharpe, 20 assets, w in [2%, 40%]",
        (0.02, 0.40),
        lambda mu, cov, b: optimize.max_sharpe(mu, cov, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.max_sharpe(risk_free_rate=RISK_FREE_RATE),
    ),
    Case(
        "max_sharpe, 20 assets, w in [0, 1]",
        (0.0, 1.0),
        lambda mu, cov, b: optimize.max_sharpe(mu, cov, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.max_sharpe(risk_free_rate=RISK_FREE_RATE),
    ),
    Case(
        "max_sharpe, 20 assets, w in [-1, 1]",
        (-1.0, 1.0),
        lambda mu, cov, b: optimize.max_sharpe(mu, cov, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.max_sharpe(risk_free_rate=RISK_FREE_RATE),
    ),
    Case(
        "min_volatility, 20 assets, w in [2%, 40%]",
        (0.02, 0.40),
        lambda mu, cov, b: optimize.min_variance(mu, cov, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.min_volatility(),
    ),
    Case(
        "min_volatility, 20 assets, w in [0, 1]",
        (0.0, 1.0),
        lambda mu, cov, b: optimize.min_variance(mu, cov, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.min_volatility(),
    ),
    Case(
        "efficient_risk(0.19), 20 assets, w in [0, 1]",
        (0.0, 1.0),
        lambda mu, cov, b: optimize.efficient_risk(mu, cov, 0.19, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.efficient_risk(0.19),
    ),
    Case(
        "efficient_return(0.25), 20 assets, w in [0, 1]",
        (0.0, 1.0),
        lambda mu, cov, b: optimize.efficient_return(mu, cov, 0.25, bounds=b, risk_free_rate=RISK_FREE_RATE),
        lambda ef: ef.efficient_return(0.25),
    ),
)


def bench_portfolio(repeats: int = 300) -> list[Row]:
    """One row per case: (case, our median seconds, peer median seconds, max |weight difference|)."""
    return [(m.name, m.ours_median, m.peer_median, m.weight_difference) for m in measure(repeats)]


def measure(repeats: int = 300) -> list[Measured]:
    # Peer-only dependencies, installed with the dev extras (pandas has no type stubs here).
    pd: Any = importlib.import_module("pandas")
    from pypfopt.efficient_frontier import EfficientFrontier

    tickers, prices = _read_prices(PRICES)
    mu, cov = mean_historical_return(prices), sample_covariance(prices)
    mu_series, cov_frame = pd.Series(mu, index=tickers), pd.DataFrame(cov, index=tickers, columns=tickers)
    results = []
    for case in CASES:

        def ours_call(c: Case = case) -> Portfolio:
            return c.ours(mu, cov, c.bounds)

        def peer_call(c: Case = case) -> FloatArray:
            frontier = EfficientFrontier(mu_series, cov_frame, weight_bounds=c.bounds)
            c.peer(frontier)
            return np.asarray(frontier.weights, dtype=np.float64)

        ours_times, ours = _timed(ours_call, repeats)
        peer_times, peer_weights = _timed(peer_call, max(repeats // 6, 5))
        peer = optimize.evaluate(peer_weights, mu, cov, RISK_FREE_RATE)
        objective, ours_value, peer_value = _objective(case.name, ours, peer)
        results.append(
            Measured(
                name=case.name,
                ours_median=statistics.median(ours_times),
                ours_best=min(ours_times),
                peer_median=statistics.median(peer_times),
                peer_best=min(peer_times),
                weight_difference=float(np.abs(ours.weights - peer_weights).max()),
                objective_difference=abs(ours_value - peer_value),
                objective=objective,
            )
        )
    return results


def _objective(name: str, ours: Portfolio, peer: Portfolio) -> tuple[str, float, float]:
    if name.startswith("max_sharpe"):
        return "sharpe", ours.sharpe, peer.sharpe
    if name.startswith("efficient_risk"):
        return "return", ours.expected_return, peer.expected_return
    return "volatility", ours.volatility, peer.volatility


def _timed(call: Callable[[], T], repeats: int) -> tuple[list[float], T]:
    result = call()  # warm-up (imports, caches) outside the measurement
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return times, result


def _read_prices(path: Path) -> tuple[list[str], FloatArray]:
    lines = path.read_text().splitlines()
    tickers = lines[0].split(",")[1:]
    rows = [[float(cell) if cell else np.nan for cell in line.split(",")[1:]] for line in lines[1:]]
    return tickers, np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="timed calls of ours per case (peer: 1/6)")
    args = parser.parse_args()
    print(f"{'case':48s} {'ours µs':>9s} {'best':>7s} {'peer µs':>9s} {'best':>7s} {'speed-up':>8s}  max|Δw|  |Δobj|")
    for m in measure(args.repeats):
        print(
            f"{m.name:48s} {m.ours_median * 1e6:9.0f} {m.ours_best * 1e6:7.0f} {m.peer_median * 1e6:9.0f} "
            f"{m.peer_best * 1e6:7.0f} {m.peer_median / m.ours_median:7.1f}x  {m.weight_difference:.1e}  "
            f"{m.objective_difference:.1e} ({m.objective})"
        )


if __name__ == "__main__":
    main()
