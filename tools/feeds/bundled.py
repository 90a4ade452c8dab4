"""Daily market data shipped inside the package, and a loader for users' own files in the same format.

This module owns turning a long-format daily OHLCV CSV (one row per date and ticker) plus an optional VIX
CSV into a `DailyPanel`: dense float64 arrays indexed by (trading day, symbol), with the VIX close aligned
to the same days. The replay feed builds on it so that `aegis run` works offline on a fresh clone.

Decisions that must not be silently changed:
- The bundled files are read through `importlib.resources`, never from a path outside the package, so the
  data works from an installed wheel and never depends on the machine it was prepared on.
- A malformed row fails the whole load with the file, line and column; nothing is skipped, repaired or
  defaulted. OHLC consistency (low <= open, close <= high; prices > 0; volume >= 0) counts as well-formed.
- The VIX value of a day is that day's close or, if the VIX file lacks the day, the last earlier close;
  it is never taken from a later day (no look-ahead). Days before the first VIX close get NaN. The day each
  value was closed on is kept (`vix_as_of`), so that a value carried forward can be known as stale
  (`deliberation.max_vix_age_days`); the carry-forward itself sets no limit.
- A `DailyPanel` is immutable: its arrays are read-only, and `window` / `symbols_subset` return new panels.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = [
    "BUNDLED_STOCKS_FILE",
    "BUNDLED_VIX_FILE",
    "DailyPanel",
    "FeedError",
    "MalformedFeedFileError",
    "UnknownSymbolError",
    "bar_time",
    "load_bundled_daily",
    "load_daily_csv",
]

FloatArray = npt.NDArray[np.float64]

BUNDLED_STOCKS_FILE = "us_stocks_daily_2012_2017.csv"
BUNDLED_VIX_FILE = "vix_daily_cboe_1990_2026.csv"
_BUNDLED_PACKAGE = "aegis"
_BUNDLED_FOLDER = ("data", "market")

_STOCK_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "volume")
_VIX_COLUMNS = ("date", "close")

_US_MARKET_TZ = ZoneInfo("America/New_York")
_US_MARKET_CLOSE = time(16, 0)


class FeedError(Exception):
    """Base of every error raised while loading or slicing market data."""


class MalformedFeedFileError(FeedError, ValueError):
    """A data file does not follow the expected format; names the file, line and column."""

    def __init__(self, source: str, line: int, column: str | None, reason: str) -> None:
        where = f"{source}, line {line}" + (f", column {column!r}" if column is not None else "")
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.column = column
        self.reason = reason


class UnknownSymbolError(FeedError, ValueError):
    """A requested symbol is not in the panel."""

    def __init__(self, symbol: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown symbol {symbol!r}; the panel holds {', '.join(known)}")
        self.symbol = symbol


@dataclass(frozen=True, slots=True, eq=False)
class DailyPanel:
    """Daily bars of several symbols on a common calendar.

    Prices are in the quote currency of each symbol, volume in shares; arrays are float64 of shape
    (len(dates), len(symbols)) with NaN where a symbol has no bar that day. `vix` holds the VIX close
    (index points) for each date, carried forward from the last earlier close, NaN before the first one;
    `vix_as_of` the day of that close (None where `vix` is NaN). A panel built without `vix_as_of` takes each
    finite VIX value as that day's own close.
    """

    dates: tuple[date, ...]
    symbols: tuple[str, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    vix: FloatArray
    vix_as_of: tuple[date | None, ...] | None = None

    def __post_init__(self) -> None:
        if any(later <= earlier for earlier, later in zip(self.dates, self.dates[1:], strict=False)):
            raise ValueError("dates must be strictly ascending")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must be unique")
        shape = (len(self.dates), len(self.symbols))
        for name in ("open", "high", "low", "close", "volume"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.vix.shape != (len(self.dates),):
            raise ValueError(f"vix has shape {self.vix.shape}, expected {(len(self.dates),)}")
        if self.vix_as_of is None:
            own = tuple(day if math.isfinite(value) else None for day, value in zip(self.dates, self.vix, strict=True))
            object.__setattr__(self, "vix_as_of", own)
        elif len(self.vix_as_of) != len(self.dates):
            raise ValueError(f"vix_as_of has {len(self.vix_as_of)} days, expected {len(self.dates)}")
        elif any(d is not None and d > day for d, day in zip(self.vix_as_of, self.dates, strict=True)):
            raise ValueError("a VIX value cannot be closed after the day it is used on (look-ahead)")

    def vix_day(self, row: int) -> date | None:
        """The day the VIX value of `row` was closed on (earlier than the row's day when carried forward)."""
        assert self.vix_as_of is not None  # set by __post_init__
        return self.vix_as_of[row]

    def window(self, start: date | None = None, end: date | None = None) -> DailyPanel:
        """The days from `start` to `end`, both inclusive; None leaves that side open."""
        if start is not None and end is not None and start > end:
            raise ValueError(f"window start {start} is after its end {end}")
        first = 0 if start is None else bisect.bisect_left(self.dates, start)
        stop = len(self.dates) if end is None else bisect.bisect_right(self.dates, end)
        rows = slice(first, stop)
        return DailyPanel(
            dates=self.dates[rows],
            symbols=self.symbols,
            open=self.open[rows],
            high=self.high[rows],
            low=self.low[rows],
            close=self.close[rows],
            volume=self.volume[rows],
            vix=self.vix[rows],
            vix_as_of=None if self.vix_as_of is None else self.vix_as_of[rows],
        )

    def symbols_subset(self, symbols: Sequence[str]) -> DailyPanel:
        """The given symbols, in the given order, on the same dates."""
        if isinstance(symbols, str):
            raise TypeError("symbols must be a sequence of tickers, not a single string")
        if not symbols:
            raise ValueError("symbols_subset needs at least one symbol")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols repeat: {list(symbols)}")
        column_of = {symbol: i for i, symbol in enumerate(self.symbols)}
        for symbol in symbols:
            if symbol not in column_of:
                raise UnknownSymbolError(symbol, self.symbols)
        columns = [column_of[symbol] for symbol in symbols]
        return DailyPanel(
            dates=self.dates,
            symbols=tuple(symbols),
            open=_read_only(self.open[:, columns]),
            high=_read_only(self.high[:, columns]),
            low=_read_only(self.low[:, columns]),
            close=_read_only(self.close[:, columns]),
            volume=_read_only(self.volume[:, columns]),
            vix=self.vix,
            vix_as_of=self.vix_as_of,
        )


def bar_time(day: date) -> datetime:
    """The close of a US daily bar (16:00 New York) as an aware UTC datetime: 20:00Z in DST, else 21:00Z."""
    return datetime.combine(day, _US_MARKET_CLOSE, tzinfo=_US_MARKET_TZ).astimezone(UTC)


def load_bundled_daily(
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> DailyPanel:
    """The bundled US daily bars with the VIX, optionally narrowed to `symbols` and `start`..`end`."""
    panel = _bundled_panel()
    if symbols is not None:
        panel = panel.symbols_subset(symbols)
    if start is not None or end is not None:
        panel = panel.window(start, end)
    return panel


def load_daily_csv(stocks_csv: Path, vix_csv: Path | None) -> DailyPanel:
    """A panel from the user's own files in the bundled format.

    `stocks_csv` needs the columns Date,Ticker,Open,High,Low,Close,Volume (any order, case-insensitive,
    extra columns ignored); `vix_csv` needs DATE and CLOSE. Without `vix_csv` the VIX is all NaN.
    Raises `MalformedFeedFileError` naming the file, line and column of the first bad row.
    """
    with stocks_csv.open(newline="", encoding="utf-8") as stocks:
        bars = _read_stock_bars(stocks, str(stocks_csv))
    vix_closes: list[tuple[date, float]] = []
    if vix_csv is not None:
        with vix_csv.open(newline="", encoding="utf-8") as vix:
            vix_closes = _read_vix_closes(vix, str(vix_csv))
    return _build_panel(bars, vix_closes)


@functools.cache
def _bundled_panel() -> DailyPanel:
    # Cached because the panel is immutable and every replay would otherwise re-parse the same files.
    folder = resources.files(_BUNDLED_PACKAGE)
    for part in _BUNDLED_FOLDER:
        folder = folder / part
    shown = "/".join((_BUNDLED_PACKAGE, *_BUNDLED_FOLDER))
    stocks = io.StringIO((folder / BUNDLED_STOCKS_FILE).read_text(encoding="utf-8"), newline="")
    bars = _read_stock_bars(stocks, f"{shown}/{BUNDLED_STOCKS_FILE}")
    vix = io.StringIO((folder / BUNDLED_VIX_FILE).read_text(encoding="utf-8"), newline="")
    vix_closes = _read_vix_closes(vix, f"{shown}/{BUNDLED_VIX_FILE}")
    return _build_panel(bars, vix_closes)


@dataclass(frozen=True, slots=True)
class _Bar:
    day: date
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float


def _read_stock_bars(lines: Iterable[str], source: str) -> list[_Bar]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise MalformedFeedFileError(source, 1, None, "the file is empty; expected a header row")
    index = _column_index(header, _STOCK_COLUMNS, source)
    bars: list[_Bar] = []
    first_line_of: dict[tuple[date, str], int] = {}
    for row in reader:
        if not row:
            continue
        line = reader.line_num
        _check_width(row, header, source, line)
        day = _parse_date(row[index["date"]], source, line, header[index["date"]])
        symbol = row[index["ticker"]].strip()
        if not symbol:
            raise MalformedFeedFileError(source, line, header[index["ticker"]], "empty ticker")
        prices = {
            name: _parse_number(row[index[name]], source, line, header[index[name]])
            for name in ("open", "high", "low", "close", "volume")
        }
        _check_bar(prices, source, line, header, index)
        key = (day, symbol)
        if key in first_line_of:
            raise MalformedFeedFileError(
                source, line, None, f"second bar for {symbol} on {day} (first on line {first_line_of[key]})"
            )
        first_line_of[key] = line
        bars.append(_Bar(day, symbol, **prices))
    if not bars:
        raise MalformedFeedFileError(source, reader.line_num, None, "no data rows after the header")
    return bars


def _read_vix_closes(lines: Iterable[str], source: str) -> list[tuple[date, float]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise MalformedFeedFileError(source, 1, None, "the file is empty; expected a header row")
    index = _column_index(header, _VIX_COLUMNS, source)
    closes: list[tuple[date, float]] = []
    first_line_of: dict[date, int] = {}
    for row in reader:
        if not row:
            continue
        line = reader.line_num
        _check_width(row, header, source, line)
        day = _parse_date(row[index["date"]], source, line, header[index["date"]])
        close = _parse_number(row[index["close"]], source, line, header[index["close"]])
        if close <= 0:
            raise MalformedFeedFileError(source, line, header[index["close"]], f"close {close} is not > 0")
        if day in first_line_of:
            raise MalformedFeedFileError(
                source, line, None, f"second VIX row for {day} (first on line {first_line_of[day]})"
            )
        first_line_of[day] = line
        closes.append((day, close))
    return sorted(closes)


def _column_index(header: list[str], required: Sequence[str], source: str) -> dict[str, int]:
    normalised = [name.strip().casefold() for name in header]
    missing = [name for name in required if name not in normalised]
    if missing:
        raise MalformedFeedFileError(
            source, 1, None, f"header lacks column(s) {', '.join(missing)} (case-insensitive); got {header}"
        )
    return {name: normalised.index(name) for name in required}


def _check_width(row: list[str], header: list[str], source: str, line: int) -> None:
    if len(row) != len(header):
        raise MalformedFeedFileError(
            source, line, None, f"expected {len(header)} fields like the header, got {len(row)}"
        )


def _parse_date(text: str, source: str, line: int, column: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise MalformedFeedFileError(source, line, column, f"{text!r} is not a YYYY-MM-DD date") from None


def _parse_number(text: str, source: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MalformedFeedFileError(source, line, column, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise MalformedFeedFileError(source, line, column, f"{text!r} is not a finite number")
    return value


def _check_bar(values: dict[str, float], source: str, line: int, header: list[str], index: dict[str, int]) -> None:
    def fail(name: str, reason: str) -> None:
        raise MalformedFeedFileError(source, line, header[index[name]], reason)

    for name in ("open", "high", "low", "close"):
        if values[name] <= 0:
            fail(name, f"price {values[name]} is not > 0")
    if values["volume"] < 0:
        fail("volume", f"volume {values['volume']} is negative")
    if values["high"] < max(values["open"], values["close"]):
        fail("high", f"high {values['high']} is below open {values['open']} or close {values['close']}")
    if values["low"] > min(values["open"], values["close"]):
        fail("low", f"low {values['low']} is above open {values['open']} or close {values['close']}")


def _build_panel(bars: list[_Bar], vix_closes: list[tuple[date, float]]) -> DailyPanel:
    dates = tuple(sorted({bar.day for bar in bars}))
    symbols = tuple(sorted({bar.symbol for bar in bars}))
    row_of = {day: i for i, day in enumerate(dates)}
    column_of = {symbol: j for j, symbol in enumerate(symbols)}
    rows = np.fromiter((row_of[bar.day] for bar in bars), dtype=np.intp, count=len(bars))
    columns = np.fromiter((column_of[bar.symbol] for bar in bars), dtype=np.intp, count=len(bars))

    def field(name: str) -> FloatArray:
        grid = np.full((len(dates), len(symbols)), np.nan, dtype=np.float64)
        grid[rows, columns] = np.fromiter((getattr(bar, name) for bar in bars), np.float64, len(bars))
        return _read_only(grid)

    vix, vix_as_of = _vix_as_of(dates, vix_closes)
    return DailyPanel(
        dates=dates,
        symbols=symbols,
        open=field("open"),
        high=field("high"),
        low=field("low"),
        close=field("close"),
        volume=field("volume"),
        vix=_read_only(vix),
        vix_as_of=vix_as_of,
    )


def _vix_as_of(
    dates: Sequence[date], vix_closes: list[tuple[date, float]]
) -> tuple[FloatArray, tuple[date | None, ...]]:
    """The last VIX close on or before each date (no look-ahead) and the day it was closed on; NaN and None
    before the first close."""
    aligned = np.full(len(dates), np.nan, dtype=np.float64)
    if not vix_closes:
        return aligned, (None,) * len(dates)
    vix_days = np.array([day.toordinal() for day, _ in vix_closes], dtype=np.int64)
    vix_values = np.array([close for _, close in vix_closes], dtype=np.float64)
    wanted = np.array([day.toordinal() for day in dates], dtype=np.int64)
    latest = np.searchsorted(vix_days, wanted, side="right") - 1
    known = latest >= 0
    aligned[known] = vix_values[latest[known]]
    as_of = tuple(vix_closes[i][0] if i >= 0 else None for i in latest.tolist())
    return aligned, as_of


def _read_only(array: FloatArray) -> FloatArray:
    array.flags.writeable = False
    return array
