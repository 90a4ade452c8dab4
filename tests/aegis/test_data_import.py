"""`aegis data import / list / show`: every layout from real files, the quality report, provenance, clear errors."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from aegis.cli import app
from aegis.runtime.data_import import import_dataset
from quant.data_quality import Check, zero_volume
from tools.feeds.datasets import load_dataset

DATA = Path(__file__).resolve().parents[1] / "data"
MARKET = DATA / "market"
LONG = MARKET / "stocknet_long_aapl_msft_xom_2017h1.csv"
PER_TICKER = MARKET / "per_ticker"
FFN_WIDE = DATA / "ffn_test_data.csv"
PYPFOPT_WIDE = DATA / "pypfopt_stock_prices.csv"
SPY_OHLCV = DATA / "stockindicators_default_spy_2017_2018.csv"
SPY_INTRADAY = DATA / "stockindicators_spy_1m_20201215_20201218.csv"


def _aegis(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "data")])


def _imported(tmp_path: Path, source: Path | str, name: str, *options: str) -> Result:
    result = _aegis(tmp_path, "data", "import", str(source), "--name", name, *options)
    assert result.exit_code == 0, result.output
    return result


def _refused(tmp_path: Path, source: Path | str, *options: str, name: str = "bad") -> str:
    """The one line an import that must fail prints; nothing may be stored."""
    result = _aegis(tmp_path, "data", "import", str(source), "--name", name, *options)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert not (tmp_path / "data" / "datasets" / name).exists()
    return lines[0]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _provenance(tmp_path: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((tmp_path / "data" / "datasets" / name / "provenance.json").read_text())
    return loaded


# ---- each layout from real files ------------------------------------------------------------------


def test_a_long_file_is_detected_imported_and_read_back_bar_for_bar(tmp_path: Path) -> None:
    result = _imported(tmp_path, LONG, "stocknet")
    assert "long format (detected), OHLCV" in result.output
    assert "ignored   columns Adj Close" in result.output
    dataset = load_dataset(tmp_path / "data", "stocknet")
    source = pd.read_csv(LONG)
    assert dataset.panel.symbols == ("AAPL", "MSFT", "XOM")
    assert dataset.panel.dates[0] == date(2017, 1, 3) and dataset.panel.dates[-1] == date(2017, 6, 30)
    assert not dataset.closes_only and dataset.real_fields == ("open", "high", "low", "close", "volume")
    for row in source.sample(20, random_state=1).itertuples():
        i, j = dataset.panel.dates.index(date.fromisoformat(row.Date)), dataset.panel.symbols.index(row.Ticker)
        assert (dataset.panel.open[i, j], dataset.panel.close[i, j]) == (row.Open, row.Close)
        assert dataset.panel.volume[i, j] == row.Volume
    assert int(np.isfinite(dataset.panel.close).sum()) == len(source)


def test_the_provenance_records_the_sources_and_stored_file_with_their_hashes(tmp_path: Path) -> None:
    _imported(tmp_path, LONG, "stocknet")
    p = _provenance(tmp_path, "stocknet")
    folder = tmp_path / "data" / "datasets" / "stocknet"
    assert p["sources"] == [{"path": str(LONG.resolve()), "sha256": hashlib.sha256(LONG.read_bytes()).hexdigest()}]
    assert p["stored"] == {"file": "bars.csv", "sha256": hashlib.sha256((folder / "bars.csv").read_bytes()).hexdigest()}
    assert (p["format"], p["closes_only"], p["rows_read"], p["rows_kept"], p["rows_rejected"]) == (
        "long",
        False,
        375,
        375,
        0,
    )
    assert (p["first_date"], p["last_date"], p["tickers"]) == ("2017-01-03", "2017-06-30", ["AAPL", "MSFT", "XOM"])
    assert str(p["imported_at"]).endswith("+00:00")
    assert load_dataset(tmp_path / "data", "stocknet").sha256 == p["stored"]["sha256"]


def test_a_wide_file_of_closes_needs_the_flag_and_is_then_recorded_as_closes_only(tmp_path: Path) -> None:
    line = _refused(tmp_path, FFN_WIDE)
    assert "wide file" in line and "--closes-only" in line
    result = _imported(tmp_path, FFN_WIDE, "ffn", "--closes-only")
    assert "wide format (detected), closes only (real fields: close)" in result.output
    dataset = load_dataset(tmp_path / "data", "ffn")
    assert dataset.closes_only and dataset.real_fields == ("close",)
    assert dataset.panel.symbols == ("AAPL", "C", "MSFT")
    assert dataset.panel.dates[0] == date(2004, 3, 10)  # read from the US-style 3/10/2004
    with FFN_WIDE.open() as stream:
        first = next(csv.DictReader(stream))
    assert dataset.panel.close[0, 0] == float(first["AAPL"]) == dataset.panel.high[0, 0]
    assert np.isnan(dataset.panel.volume).all()
    assert _provenance(tmp_path, "ffn")["real_fields"] == ["close"]


def test_the_twenty_ticker_wide_file_keeps_every_listed_close(tmp_path: Path) -> None:
    result = _imported(tmp_path, PYPFOPT_WIDE, "stocks20", "--closes-only")
    source = pd.read_csv(PYPFOPT_WIDE, index_col="date")
    dataset = load_dataset(tmp_path / "data", "stocks20")
    assert dataset.panel.symbols == tuple(sorted(source.columns))
    assert (dataset.panel.dates[0], dataset.panel.dates[-1]) == (date(1989, 12, 29), date(2018, 4, 11))
    assert int(np.isfinite(dataset.panel.close).sum()) == int(source.notna().sum().sum())
    assert "return_outlier" in result.output  # real splits and crashes are flagged, kept
    assert "0 rejected" in result.output


def test_per_ticker_files_take_the_ticker_from_the_file_name(tmp_path: Path) -> None:
    result = _imported(tmp_path, PER_TICKER, "yahoo", "--ticker-from", r"yahoofinance-([A-Z]+)-")
    assert "per-ticker format (detected)" in result.output
    assert "yahoofinance-AAPL-20170103-20180119.csv -> AAPL" in result.output
    dataset = load_dataset(tmp_path / "data", "yahoo")
    assert dataset.panel.symbols == ("AAPL", "SPY")
    assert dataset.panel.dates[-1] == date(2018, 1, 19)
    glob = _imported(tmp_path, f"{PER_TICKER}/*AAPL*.csv", "stem", "--format", "per-ticker")
    assert "-> YAHOOFINANCE-AAPL-20170103-20180119" in glob.output  # no --ticker-from: the stem, upper case
    one = tmp_path / "spy.csv"
    shutil.copy(SPY_OHLCV, one)
    _imported(tmp_path, one, "spy")
    assert load_dataset(tmp_path / "data", "spy").panel.symbols == ("SPY",)


def test_adjusted_uses_adj_close_and_scales_the_bar(tmp_path: Path) -> None:
    _imported(tmp_path, LONG, "adj", "--adjusted", "--tickers", "AAPL")
    dataset = load_dataset(tmp_path / "data", "adj")
    row = pd.read_csv(LONG).iloc[0]
    factor = row["Adj Close"] / row["Close"]
    assert dataset.panel.close[0, 0] == pytest.approx(row["Adj Close"])
    assert dataset.panel.open[0, 0] == pytest.approx(row["Open"] * factor)


def test_a_parquet_file_imports_like_the_csv_it_was_made_from(tmp_path: Path) -> None:
    parquet = tmp_path / "stocknet.parquet"
    frame = pd.read_csv(LONG)
    frame["Date"] = pd.to_datetime(frame["Date"])
    frame.to_parquet(parquet, index=False)
    _imported(tmp_path, LONG, "from-csv")
    _imported(tmp_path, parquet, "from-parquet")
    a, b = (load_dataset(tmp_path / "data", n).panel for n in ("from-csv", "from-parquet"))
    assert a.dates == b.dates and a.symbols == b.symbols
    for field in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    bad = _write(tmp_path, "broken.parquet", "PAR1 this is not parquet")
    assert "cannot read broken.parquet as Parquet" in _refused(tmp_path, bad)


def test_closes_only_per_ticker_data_is_refused_without_the_flag_and_kept_with_it(tmp_path: Path) -> None:
    closes = tmp_path / "SPY.csv"
    spy = pd.read_csv(SPY_OHLCV)
    spy[["date", "close"]].to_csv(closes, index=False)
    line = _refused(tmp_path, closes)
    assert "SPY.csv has closes only" in line and "--closes-only" in line
    _imported(tmp_path, closes, "spy-closes", "--closes-only")
    dataset = load_dataset(tmp_path / "data", "spy-closes")
    assert dataset.closes_only and dataset.panel.symbols == ("SPY",)
    np.testing.assert_array_equal(dataset.panel.close[:, 0], spy["close"].to_numpy())


def test_a_vix_file_is_stored_and_aligned_without_look_ahead(tmp_path: Path) -> None:
    vix = _write(
        tmp_path, "vix.csv", "DATE,OPEN,HIGH,LOW,CLOSE\n2017-01-03,14,15,13,12.85\n2017-01-05,12,12,11,11.67\n"
    )
    result = _imported(tmp_path, LONG, "with-vix", "--vix", str(vix), "--end", "2017-01-06")
    assert "vix       2 closes" in result.output
    panel = load_dataset(tmp_path / "data", "with-vix").panel
    assert panel.dates == (date(2017, 1, 3), date(2017, 1, 4), date(2017, 1, 5), date(2017, 1, 6))
    assert panel.vix.tolist() == [12.85, 12.85, 11.67, 11.67]


def test_data_without_a_vix_is_said_to_run_defensive_with_how_to_give_one(tmp_path: Path) -> None:
    said = "vix       none: runs and sets on this data have no VIX, so every session is defensive (VIX unknown)"
    result = _imported(tmp_path, LONG, "no-vix", "--end", "2017-01-06")
    assert said in result.output and "--vix FILE" in result.output
    assert said in _aegis(tmp_path, "data", "show", "no-vix").output


# ---- what the checks reject or flag ---------------------------------------------------------------


def test_rows_that_fail_the_checks_are_not_imported_and_the_report_says_which_and_why(tmp_path: Path) -> None:
    rows = pd.read_csv(LONG).iloc[:30].copy()
    rows.loc[4, "High"] = rows.loc[4, "Close"] - 1  # high below the close
    rows.loc[7, "Low"] = -1.0
    rows.loc[9, "Volume"] = 0.0
    rows.loc[11, "Open"] = np.nan
    source = tmp_path / "flawed.csv"
    rows.to_csv(source, index=False)
    result = _imported(tmp_path, source, "flawed")
    assert "30 read, 27 kept, 3 rejected, 2 flagged (kept)" in result.output
    assert "flawed.csv:6" in result.output and "high_below_open_or_close" in result.output
    assert "flawed.csv:9" in result.output and "low -1.0 is not positive" in result.output
    assert "flawed.csv:11  AAPL 2017-01-17  [zero_volume]" in result.output
    assert "flawed.csv:22  AAPL 2017-02-01  [return_outlier]" in result.output  # earnings day: real, kept
    p = _provenance(tmp_path, "flawed")
    assert [r["origin"] for r in p["rejected"]] == ["flawed.csv:6", "flawed.csv:9", "flawed.csv:13"]
    panel = load_dataset(tmp_path / "data", "flawed").panel
    assert int(np.isfinite(panel.close).sum()) == 27


def test_zero_volume_is_a_finding_per_bar() -> None:
    found = zero_volume(np.array([[10.0, 0.0], [0.0, 5.0]]), np.array(["2017-01-03", "2017-01-04"]))
    assert [(f.check, f.row, f.column, f.day) for f in found] == [
        (Check.ZERO_VOLUME, 0, 1, date(2017, 1, 3)),
        (Check.ZERO_VOLUME, 1, 0, date(2017, 1, 4)),
    ]


# ---- clear errors ---------------------------------------------------------------------------------

_HEAD = "Date,Ticker,Open,High,Low,Close,Volume\n"


def test_missing_columns_are_named_with_what_was_found(tmp_path: Path) -> None:
    path = _write(tmp_path, "no_low.csv", "Date,Ticker,Open,High,Close,Volume\n2017-01-03,AAPL,1,2,1.5,10\n")
    line = _refused(tmp_path, path)
    assert "no_low.csv lacks column low" in line and "found Date, Ticker, Open, High, Close, Volume" in line
    undated = _write(tmp_path, "undated.csv", "when,AAPL\nx,1\n")
    assert "lacks column date (date/datetime/timestamp)" in _refused(tmp_path, undated)


def test_intraday_timestamps_and_irregular_gaps_are_refused_saying_what_was_seen(tmp_path: Path) -> None:
    line = _refused(tmp_path, SPY_INTRADAY)
    assert "intraday timestamps" in line and "2020-12-15 09:30 and 2020-12-15 09:31" in line
    gap = _write(
        tmp_path,
        "gap.csv",
        _HEAD + "".join(f"2017-01-0{d},A,1,1,1,1,1\n" for d in range(2, 7)) + "2017-02-03,A,1,1,1,1,1\n",
    )
    assert "irregular gap of 28 days from 2017-01-06 to 2017-02-03 (gap.csv:7)" in _refused(tmp_path, gap)
    weeks = "".join(f"2017-01-{d:02d},A,1,1,1,1,1\n" for d in (2, 9, 16, 23, 30))
    assert "median 7 days apart" in _refused(tmp_path, _write(tmp_path, "weekly.csv", _HEAD + weeks))


def test_duplicate_rows_are_refused_with_the_first_ones(tmp_path: Path) -> None:
    text = _HEAD + "2017-01-03,A,1,1,1,1,1\n2017-01-04,A,1,1,1,1,1\n2017-01-03,A,2,2,2,2,2\n"
    line = _refused(tmp_path, _write(tmp_path, "dup.csv", text))
    assert "1 duplicate bars (same date and ticker): A 2017-01-03 (dup.csv:2, dup.csv:4)" in line


def test_a_non_numeric_value_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    text = _HEAD + "2017-01-03,A,1,1,1,1,1\n2017-01-04,A,1,abc,1,1,1\n"
    line = _refused(tmp_path, _write(tmp_path, "text.csv", text))
    assert "text.csv, line 3, column 'High': 'abc' is not a number" in line


def test_empty_files_unknown_formats_and_wide_files_without_numbers_are_refused(tmp_path: Path) -> None:
    assert "empty.csv is empty" in _refused(tmp_path, _write(tmp_path, "empty.csv", ""))
    assert "header but no data rows" in _refused(tmp_path, _write(tmp_path, "header.csv", _HEAD))
    assert "unknown file type '.xlsx'" in _refused(tmp_path, _write(tmp_path, "prices.xlsx", "x"))
    labels = _write(tmp_path, "labels.csv", "date,comment\n2017-01-03,up\n2017-01-04,down\n")
    line = _refused(tmp_path, labels, "--closes-only")
    assert "wide file with no numeric column besides 'date'" in line
    result = _aegis(tmp_path, "data", "import", str(LONG), "--name", "x", "--format", "tall")
    assert result.exit_code == 2 and "'tall' is not one of" in result.output


def test_unknown_tickers_and_dates_out_of_range_are_refused(tmp_path: Path) -> None:
    line = _refused(tmp_path, LONG, "--tickers", "AAPL,TSLA")
    assert "unknown ticker(s) TSLA; the data holds AAPL, MSFT, XOM" in line
    line = _refused(tmp_path, LONG, "--start", "2018-01-01")
    assert "asked for the days from 2018-01-01, but the data runs from 2017-01-03 to 2017-06-30" in line


def test_a_taken_name_needs_replace_and_show_of_an_unknown_name_lists_the_known(tmp_path: Path) -> None:
    _imported(tmp_path, LONG, "mine", "--end", "2017-01-31")
    again = _aegis(tmp_path, "data", "import", str(LONG), "--name", "mine")
    assert again.exit_code == 2 and "add --replace" in again.output
    _imported(tmp_path, LONG, "mine", "--replace")
    assert load_dataset(tmp_path / "data", "mine").panel.dates[-1] == date(2017, 6, 30)
    shown = _aegis(tmp_path, "data", "show", "theirs")
    assert shown.exit_code == 2 and "no dataset named 'theirs'" in shown.output and "known: mine" in shown.output
    listed = _aegis(tmp_path, "data", "list")
    assert listed.exit_code == 0 and "mine" in listed.output and "375" in listed.output
    show = _aegis(tmp_path, "data", "show", "mine")
    assert show.exit_code == 0 and hashlib.sha256(LONG.read_bytes()).hexdigest() in show.output


def test_the_import_reports_its_progress_step_by_step(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    report = import_dataset([LONG], "steps", tmp_path, progress=lambda *step: seen.append(step))
    assert report.rows_kept == 375
    assert seen[0] == ("reading", 0, 1) and seen[-1] == ("writing", 1, 1)
    assert [s for s in seen if s[0] == "checking"] == [("checking", i, 3) for i in range(4)]  # one per ticker
