"""The bundled VIX is the whole public series, identical to the former 2012-2017 cut on its dates, and each
day's VIX carries the day it was closed on (a value carried forward is visibly older than its row)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tools.feeds.bundled import BUNDLED_VIX_FILE, DailyPanel, load_bundled_daily, load_daily_csv

OLD_CUT = Path(__file__).resolve().parents[1] / "data" / "market" / "vix_daily_2012_2017.csv"


def bundled_vix_rows() -> list[list[str]]:
    from importlib import resources

    text = (resources.files("aegis") / "data" / "market" / BUNDLED_VIX_FILE).read_text(encoding="utf-8")
    return list(csv.reader(text.splitlines()))


def test_the_bundled_vix_is_the_whole_series_and_equals_the_old_cut_on_its_dates() -> None:
    rows = bundled_vix_rows()
    assert rows[0] == ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"]
    assert len(rows) - 1 == 9_235 and rows[1][0] == "1990-01-02" and rows[-1][0] == "2026-07-23"
    old = list(csv.reader(OLD_CUT.read_text(encoding="utf-8").splitlines()))
    overlap = [row for row in rows[1:] if "2012-01-01" <= row[0] <= "2017-12-31"]
    assert overlap == old[1:] and len(overlap) == 1_509


def test_every_bundled_stock_day_has_its_own_vix_close_matching_the_old_cut() -> None:
    panel = load_bundled_daily(["AAPL"])
    old = {date.fromisoformat(r[0]): float(r[4]) for r in list(csv.reader(OLD_CUT.open()))[1:]}
    assert panel.vix_as_of == panel.dates  # never carried forward on the bundled days
    assert np.array_equal(panel.vix, np.array([old[d] for d in panel.dates]))


def test_a_vix_that_ends_before_the_bars_is_carried_forward_with_its_own_day(tmp_path: Path) -> None:
    stocks = tmp_path / "stocks.csv"
    stocks.write_text(
        "Date,Ticker,Open,High,Low,Close,Volume\n"
        + "".join(f"2018-01-0{d},AAA,10,11,9,10,100\n" for d in (2, 3, 4, 5, 8))
    )
    vix = tmp_path / "vix.csv"
    vix.write_text("DATE,CLOSE\n2017-12-28,10.5\n2017-12-29,11.04\n2018-01-03,9.15\n")
    panel = load_daily_csv(stocks, vix)
    assert panel.vix.tolist() == [11.04, 9.15, 9.15, 9.15, 9.15]
    jan = [date(2018, 1, d) for d in (2, 3, 3, 3, 3)]
    assert panel.vix_as_of == (date(2017, 12, 29), *jan[1:])
    window = panel.window(date(2018, 1, 4))
    assert window.vix_as_of == tuple(jan[2:]) and window.vix_day(0) == date(2018, 1, 3)
    assert panel.symbols_subset(["AAA"]).vix_as_of == panel.vix_as_of


def test_a_panel_refuses_a_vix_closed_after_the_day_it_is_used_on() -> None:
    panel = load_bundled_daily(["AAPL"], end=date(2012, 9, 6))
    later = (date(2012, 9, 7),) * len(panel.dates)
    with pytest.raises(ValueError, match="look-ahead"):
        DailyPanel(panel.dates, panel.symbols, panel.open, panel.high, panel.low, panel.close, panel.volume,
                   panel.vix, vix_as_of=later)  # fmt: skip
