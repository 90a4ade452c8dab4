"""Real files imported as a user would (`aegis data import`, in-process) into a test's data folder, so runs,
backtests and evals can be tested on them:

- `closes_only`: a slice of tests/data/pypfopt_stock_prices.csv (wide adjusted closes, MIT), `--closes-only`;
- `ohlcv`: tests/data/market/per_ticker/yahoofinance-SPY-20170103-20171229.csv (SPY daily OHLCV of 2017).
The VIX beside them is the bundled series (the user files carry none), given with `--vix`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from aegis.cli import app
from tools.feeds.datasets import Dataset, load_dataset

REPO = Path(__file__).parents[3]
WIDE_CLOSES = REPO / "tests" / "data" / "pypfopt_stock_prices.csv"
SPY_OHLCV = REPO / "tests" / "data" / "market" / "per_ticker" / "yahoofinance-SPY-20170103-20171229.csv"
VIX = REPO / "aegis" / "data" / "market" / "vix_daily_cboe_1990_2026.csv"


def _import(data_dir: Path, name: str, *args: str) -> Dataset:
    result = CliRunner().invoke(
        app, ["data", "import", *args, "--name", name, "--vix", str(VIX), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return load_dataset(data_dir, name)


def closes_only(data_dir: Path, name: str, tickers: list[str], start: date, end: date) -> Dataset:
    """Wide adjusted closes of `tickers` from `start` to `end`, imported as a closes-only dataset."""
    return _import(
        data_dir, name, str(WIDE_CLOSES), "--closes-only", "--tickers", ",".join(tickers),
        "--start", start.isoformat(), "--end", end.isoformat(),
    )  # fmt: skip


def ohlcv(data_dir: Path, name: str) -> Dataset:
    """SPY's daily OHLCV bars of 2017, imported from its own file (the ticker from the file name)."""
    return _import(data_dir, name, str(SPY_OHLCV), "--ticker-from", "yahoofinance-([A-Z]+)-")
