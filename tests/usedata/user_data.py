"""Real files stored as imported datasets in a test's data folder, in the stored form of
`tools.feeds.datasets` (as `aegis data import` leaves them), so runs and evals can be tested on them.

- `closes_only`: a slice of tests/data/pypfopt_stock_prices.csv (wide adjusted closes, MIT);
- `ohlcv`: tests/data/stockindicators_default_spy_2017_2018.csv (SPY daily OHLCV, Apache-2.0).
The VIX beside them is the bundled series' closes (the user files carry none).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tools.feeds.bundled import BUNDLED_VIX_FILE
from tools.feeds.datasets import Dataset, load_dataset, store_dataset

TEST_DATA = Path(__file__).parent.parent / "data"
WIDE_CLOSES = TEST_DATA / "pypfopt_stock_prices.csv"
SPY_OHLCV = TEST_DATA / "stockindicators_default_spy_2017_2018.csv"


def _vix() -> pd.DataFrame:
    text = (resources.files("aegis") / "data" / "market" / BUNDLED_VIX_FILE).read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines()[1:] if line.strip()]
    return pd.DataFrame({"date": [r[0] for r in rows], "close": [float(r[4]) for r in rows]})


def _store(data_dir: Path, name: str, bars: pd.DataFrame, closes_only: bool, source: Path) -> Dataset:
    days = sorted(set(bars["date"]))
    provenance = {
        "name": name,
        "format": "wide" if closes_only else "long",
        "sources": [{"path": source.name}],
        "closes_only": closes_only,
        "real_fields": ["close"] if closes_only else ["open", "high", "low", "close", "volume"],
        "tickers": sorted(set(bars["ticker"])),
        "first_date": days[0],
        "last_date": days[-1],
        "rows_kept": len(bars),
        "imported_at": datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
    }
    store_dataset(data_dir, name, bars, _vix(), provenance)
    return load_dataset(data_dir, name)


def closes_only(data_dir: Path, name: str, tickers: list[str], start: date, end: date) -> Dataset:
    """Wide adjusted closes of `tickers` from `start` to `end`, stored as a closes-only dataset."""
    wide = pd.read_csv(WIDE_CLOSES)
    wide = wide[(wide["date"] >= start.isoformat()) & (wide["date"] <= end.isoformat())]
    long = wide.melt(id_vars="date", value_vars=tickers, var_name="ticker", value_name="close").dropna()
    bars = long.assign(open=long["close"], high=long["close"], low=long["close"], volume=np.nan)
    return _store(data_dir, name, bars, True, WIDE_CLOSES)


def ohlcv(data_dir: Path, name: str) -> Dataset:
    """SPY's daily OHLCV bars of 2017-2018, stored as a full dataset."""
    bars = pd.read_csv(SPY_OHLCV).assign(ticker="SPY")
    return _store(data_dir, name, bars, False, SPY_OHLCV)
