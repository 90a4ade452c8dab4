"""The bundled daily market data loads offline, is sane, and slices as documented."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from tools.feeds.bundled import (
    DailyPanel,
    MalformedFeedFileError,
    UnknownSymbolError,
    bar_time,
    load_bundled_daily,
    load_daily_csv,
)

BUNDLED_SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOG", "JPM", "BAC", "XOM", "CVX", "JNJ", "PFE", "WMT", "KO")
STOCKS_HEADER = "Date,Ticker,Open,High,Low,Close,Volume\n"


@pytest.fixture(scope="module")
def panel() -> DailyPanel:
    return load_bundled_daily()


def test_bundle_holds_at_least_ten_symbols_over_two_years(panel: DailyPanel) -> None:
    assert set(BUNDLED_SYMBOLS) <= set(panel.symbols)
    assert len(panel.symbols) >= 10
    assert (panel.dates[-1] - panel.dates[0]).days >= 2 * 365
    assert panel.dates[0] == date(2012, 9, 4)
    assert panel.dates[-1] == date(2017, 9, 1)
    assert len(panel.dates) == 1258


def test_bundle_dates_ascend_and_arrays_agree_in_shape(panel: DailyPanel) -> None:
    assert all(a < b for a, b in zip(panel.dates, panel.dates[1:], strict=False))
    shape = (len(panel.dates), len(panel.symbols))
    for array in (panel.open, panel.high, panel.low, panel.close, panel.volume):
        assert array.shape == shape
        assert array.dtype == np.float64
    assert panel.vix.shape == (len(panel.dates),)


def test_bundle_has_a_bar_for_every_symbol_on_every_day(panel: DailyPanel) -> None:
    for array in (panel.open, panel.high, panel.low, panel.close, panel.volume):
        assert not np.isnan(array).any()


def test_every_bundled_bar_is_a_consistent_ohlc_bar(panel: DailyPanel) -> None:
    assert (panel.open > 0).all()
    assert (panel.close > 0).all()
    assert (panel.low > 0).all()
    assert (panel.volume >= 0).all()
    assert (panel.high >= np.maximum(panel.open, panel.close)).all()
    assert (panel.low <= np.minimum(panel.open, panel.close)).all()


def test_bundled_vix_is_aligned_and_finite(panel: DailyPanel) -> None:
    assert np.isfinite(panel.vix[1:]).all()
    assert (panel.vix > 0).all()
    # Spot values from the VIX file: 2012-09-04 closed at 17.98, 2017-09-01 at 10.13.
    assert panel.vix[0] == pytest.approx(17.98)
    assert panel.vix[-1] == pytest.approx(10.13)


def test_bundled_panel_is_read_only(panel: DailyPanel) -> None:
    with pytest.raises(ValueError, match="read-only"):
        panel.close[0, 0] = 1.0


def test_bundle_loads_well_under_a_second() -> None:
    from tools.feeds import bundled

    bundled._bundled_panel.cache_clear()
    started = time.perf_counter()
    load_bundled_daily()
    assert time.perf_counter() - started < 1.0


def test_window_is_inclusive_on_both_ends(panel: DailyPanel) -> None:
    window = panel.window(date(2013, 1, 2), date(2013, 1, 31))
    assert window.dates[0] == date(2013, 1, 2)
    assert window.dates[-1] == date(2013, 1, 31)
    assert window.close.shape == (len(window.dates), len(panel.symbols))
    first = panel.dates.index(date(2013, 1, 2))
    np.testing.assert_array_equal(window.close, panel.close[first : first + len(window.dates)])
    np.testing.assert_array_equal(window.vix, panel.vix[first : first + len(window.dates)])


def test_window_with_open_ends_and_non_trading_bounds(panel: DailyPanel) -> None:
    # 2016-12-31 was a Saturday and 2017-01-02 a market holiday; the window starts on the next trading day.
    assert panel.window(start=date(2016, 12, 31)).dates[0] == date(2017, 1, 3)
    assert panel.window(end=date(2012, 9, 30)).dates == panel.dates[:19]
    assert panel.window().dates == panel.dates


def test_window_rejects_a_start_after_its_end(panel: DailyPanel) -> None:
    with pytest.raises(ValueError, match="after its end"):
        panel.window(date(2014, 1, 1), date(2013, 1, 1))


def test_symbols_subset_keeps_the_requested_order(panel: DailyPanel) -> None:
    subset = panel.symbols_subset(["XOM", "AAPL"])
    assert subset.symbols == ("XOM", "AAPL")
    assert subset.dates == panel.dates
    np.testing.assert_array_equal(subset.close[:, 0], panel.close[:, panel.symbols.index("XOM")])
    np.testing.assert_array_equal(subset.volume[:, 1], panel.volume[:, panel.symbols.index("AAPL")])


def test_symbols_subset_names_the_unknown_symbol(panel: DailyPanel) -> None:
    with pytest.raises(ValueError, match="NOPE") as raised:
        panel.symbols_subset(["AAPL", "NOPE"])
    assert isinstance(raised.value, UnknownSymbolError)
    assert raised.value.symbol == "NOPE"


def test_load_bundled_daily_narrows_symbols_and_dates() -> None:
    narrowed = load_bundled_daily(symbols=["KO", "PFE"], start=date(2015, 1, 1), end=date(2015, 12, 31))
    assert narrowed.symbols == ("KO", "PFE")
    assert narrowed.dates[0].year == narrowed.dates[-1].year == 2015
    assert len(narrowed.dates) == 252


def test_load_daily_csv_reads_the_bundled_format(tmp_path: Path) -> None:
    stocks = tmp_path / "stocks.csv"
    stocks.write_text(
        STOCKS_HEADER
        + "2020-01-03,BBB,10,11,9,10.5,100\n"
        + "2020-01-02,AAA,1,2,0.5,1.5,10\n"
        + "2020-01-03,AAA,1.5,2,1,1.8,12\n"
    )
    vix = tmp_path / "vix.csv"
    vix.write_text("DATE,OPEN,HIGH,LOW,CLOSE\n2020-01-02,13,14,12,13.5\n")
    loaded = load_daily_csv(stocks, vix)
    assert loaded.dates == (date(2020, 1, 2), date(2020, 1, 3))
    assert loaded.symbols == ("AAA", "BBB")
    assert np.isnan(loaded.close[0, 1])
    assert loaded.close[1, 1] == 10.5
    # 2020-01-03 has no VIX row: the 2020-01-02 close is carried forward, never a later one.
    np.testing.assert_array_equal(loaded.vix, [13.5, 13.5])


def test_load_daily_csv_without_vix_gives_nan_vix(tmp_path: Path) -> None:
    stocks = tmp_path / "stocks.csv"
    stocks.write_text(STOCKS_HEADER + "2020-01-02,AAA,1,2,0.5,1.5,10\n")
    assert np.isnan(load_daily_csv(stocks, None).vix).all()


@pytest.mark.parametrize(
    ("bad_row", "column", "reason"),
    [
        ("2020-01-03,AAA,1.5,2,1,abc,12", "Close", "not a number"),
        ("2020/01/03,AAA,1.5,2,1,1.8,12", "Date", "not a YYYY-MM-DD date"),
        ("2020-01-03,AAA,1.5,1.6,1,1.8,12", "High", "below open"),
        ("2020-01-03,AAA,1.5,2,1,1.8,-1", "Volume", "negative"),
        ("2020-01-03,AAA,1.5,2,1,1.8", None, "expected 7 fields"),
    ],
)
def test_load_daily_csv_names_the_file_line_and_column_of_a_bad_row(
    tmp_path: Path, bad_row: str, column: str | None, reason: str
) -> None:
    stocks = tmp_path / "bad.csv"
    stocks.write_text(STOCKS_HEADER + "2020-01-02,AAA,1,2,0.5,1.5,10\n" + bad_row + "\n")
    with pytest.raises(MalformedFeedFileError, match=reason) as raised:
        load_daily_csv(stocks, None)
    error = raised.value
    assert error.line == 3
    assert error.column == column
    assert "bad.csv" in str(error)
    assert "line 3" in str(error)


def test_load_daily_csv_names_missing_columns(tmp_path: Path) -> None:
    stocks = tmp_path / "no_volume.csv"
    stocks.write_text("Date,Ticker,Open,High,Low,Close\n2020-01-02,AAA,1,2,0.5,1.5\n")
    with pytest.raises(MalformedFeedFileError, match="volume"):
        load_daily_csv(stocks, None)


def test_load_daily_csv_rejects_a_repeated_bar(tmp_path: Path) -> None:
    stocks = tmp_path / "twice.csv"
    stocks.write_text(STOCKS_HEADER + "2020-01-02,AAA,1,2,0.5,1.5,10\n" * 2)
    with pytest.raises(MalformedFeedFileError, match="first on line 2"):
        load_daily_csv(stocks, None)


def test_bar_time_is_the_new_york_close_in_utc_across_dst() -> None:
    winter = bar_time(date(2017, 1, 17))
    summer = bar_time(date(2017, 7, 17))
    assert winter == datetime(2017, 1, 17, 21, 0, tzinfo=UTC)
    assert summer == datetime(2017, 7, 17, 20, 0, tzinfo=UTC)
    assert winter.utcoffset() is not None
    assert summer.tzinfo == UTC
