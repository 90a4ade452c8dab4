"""Reading a user's daily price files (CSV or Parquet; long, wide or one file per ticker) into long bars.

This module owns understanding the shape of someone else's file: which column is the date, the ticker,
each price; which layout it has; and saying precisely what is wrong when it cannot be understood.

Layouts:
- long: a date column, a ticker column (Ticker/Symbol) and price columns, one row per date and ticker;
- wide: a date column and one close column per ticker (closes only);
- per-ticker: one file per ticker (date + OHLCV, or date + close); the ticker is the file's stem in upper
  case, or the first group of `ticker_from` (a regular expression searched in the stem).
Detection when no layout is given: several files -> per-ticker; a ticker column -> long; a close column
(Close/Price/Last) -> per-ticker; otherwise wide.

Decisions that must not be silently changed:
- A value is never guessed: text where a number belongs, a date that does not parse, a second bar for the
  same ticker and day, intraday timestamps, bars further apart than `max_gap_days` all stop the import
  with a one-line `SourceError` naming the file, line (or row) and column.
- A blank price in a long or per-ticker file stays NaN (the quality checks reject its row, with the
  reason); a blank cell of a wide file means the ticker has no bar that day.
- Adj Close is ignored unless `adjusted` is asked; then it becomes the close and open/high/low are scaled
  by the same factor (adj close / close) so the bar stays consistent.
- Closes-only data (no open, high, low or volume) needs `closes_only`; it is then stored with
  open/high/low equal to the close and no volume, and its real fields are ("close",).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tools.feeds.source_errors import (
    ClosesOnlyError,
    DatesOutOfRangeError,
    DuplicateBarsError,
    EmptySourceError,
    MissingColumnsError,
    MixedFrequencyError,
    NonNumericValueError,
    NoPriceColumnsError,
    SourceError,
    UnknownFormatError,
    UnknownTickersError,
    UnreadableSourceError,
)
from tools.feeds.source_table import (
    DATA_SUFFIXES,
    column_key,
    columns_of,
    dates_in,
    found,
    numbers,
    origins,
    read_table,
    tickers_in,
    wanted,
)

__all__ = [
    "FORMATS",
    "ClosesOnlyError",
    "DatesOutOfRangeError",
    "DuplicateBarsError",
    "EmptySourceError",
    "MissingColumnsError",
    "MixedFrequencyError",
    "NoPriceColumnsError",
    "NonNumericValueError",
    "SourceBars",
    "SourceError",
    "UnknownFormatError",
    "UnknownTickersError",
    "UnreadableSourceError",
    "expand_paths",
    "narrow",
    "read_sources",
    "read_vix",
]

Layout = Literal["long", "wide", "per-ticker"]
FORMATS: tuple[Layout, ...] = ("long", "wide", "per-ticker")
PRICE_FIELDS = ("open", "high", "low", "close")
ALL_FIELDS = (*PRICE_FIELDS, "volume")
_SHOWN = 3  # examples quoted in an error line


@dataclass(frozen=True)
class SourceBars:
    """Long daily bars read from the sources, not yet checked for quality.

    `frame` has columns date (datetime.date), ticker, open, high, low, close, volume (float64, NaN where
    absent) and origin ("file:line" or "file:row N"), sorted by date then ticker.
    """

    frame: pd.DataFrame
    layout: Layout
    detected: bool  # the layout was detected, not given
    closes_only: bool
    real_fields: tuple[str, ...]
    files: tuple[Path, ...]
    tickers_by_file: tuple[tuple[str, str], ...]  # per-ticker layout: (file name, ticker)
    ignored_columns: tuple[str, ...]


def expand_paths(path: str) -> list[Path]:
    """The files named by `path`: a file, a folder (its .csv/.parquet files) or a glob pattern."""
    if any(char in path for char in "*?["):
        found = sorted(Path(p) for p in glob.glob(path) if Path(p).is_file())
        if not found:
            raise EmptySourceError(f"no file matches {path}")
        return found
    where = Path(path)
    if where.is_dir():
        found = sorted(p for p in where.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
        if not found:
            raise EmptySourceError(f"folder {where} holds no .csv or .parquet file")
        return found
    if not where.exists():
        raise FileNotFoundError(2, "No such file or directory", str(where))
    return [where]


def read_sources(
    files: Sequence[Path],
    *,
    layout: Layout | None = None,
    closes_only: bool = False,
    adjusted: bool = False,
    ticker_from: str | None = None,
    date_format: str | None = None,
    max_gap_days: int = 10,
) -> SourceBars:
    """The long bars of `files` in the given (or detected) layout; `SourceError` when they cannot be read."""
    tables = [(path, read_table(path)) for path in files]
    detected = layout is None
    chosen = layout or _detect(tables)
    if chosen != "per-ticker" and len(tables) > 1:
        raise UnknownFormatError(
            f"{len(tables)} files given for the {chosen} layout, which takes one file; use --format per-ticker"
        )
    ignored: list[str] = []
    by_file: list[tuple[str, str]] = []
    if chosen == "wide":
        path, table = tables[0]
        if not closes_only:
            raise ClosesOnlyError(
                f"{path.name} is a wide file (a date and one column per ticker): closes only, no open, high, low"
                " or volume; import it with --closes-only"
            )
        frame = _wide(path, table, date_format, ignored)
    else:
        frames = []
        for path, table in tables:
            ticker = _ticker_of(path, ticker_from) if chosen == "per-ticker" else None
            if ticker is not None:
                by_file.append((path.name, ticker))
            frames.append(_bars(path, table, ticker, closes_only, adjusted, date_format, ignored))
        frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise EmptySourceError(f"{', '.join(p.name for p, _ in tables)}: no data rows")
    frame = frame.sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)
    _refuse_duplicates(frame)
    _refuse_gaps(frame, max_gap_days)
    return SourceBars(
        frame=frame,
        layout=chosen,
        detected=detected,
        closes_only=closes_only,
        real_fields=("close",) if closes_only else ALL_FIELDS,
        files=tuple(files),
        tickers_by_file=tuple(by_file),
        ignored_columns=tuple(dict.fromkeys(ignored)),
    )


def read_vix(path: Path, date_format: str | None = None) -> pd.DataFrame:
    """A VIX file (a date column and a close column; CBOE's DATE,OPEN,HIGH,LOW,CLOSE works) as date, close."""
    table = read_table(path)
    columns = columns_of(table)
    missing = [name for name in ("date", "close") if name not in columns]
    if missing:
        raise MissingColumnsError(f"{path.name} (VIX) lacks {wanted(missing)}; found {found(table)}")
    days = dates_in(path, table, columns["date"], date_format)
    closes = numbers(path, table, columns["close"])
    frame = pd.DataFrame({"date": days, "close": closes}).dropna()
    _refuse_duplicates(frame.assign(ticker="VIX", origin=""), what="VIX closes")
    return frame.sort_values("date").reset_index(drop=True)


def narrow(bars: SourceBars, tickers: Sequence[str] | None, start: date | None, end: date | None) -> SourceBars:
    """Only `tickers` and the days `start`..`end` (inclusive); asking for what the data lacks is an error."""
    frame = bars.frame
    if tickers:
        present = sorted(set(frame["ticker"]))
        unknown = [t for t in tickers if t not in present]
        if unknown:
            raise UnknownTickersError(f"unknown ticker(s) {', '.join(unknown)}; the data holds {', '.join(present)}")
        frame = frame[frame["ticker"].isin(list(tickers))]
    first, last = min(frame["date"]), max(frame["date"])
    if start is not None and end is not None and start > end:
        raise DatesOutOfRangeError(f"--start {start} is after --end {end}")
    if (start is not None and start > last) or (end is not None and end < first):
        asked = f"{start}..{end}" if start and end else f"from {start}" if start else f"up to {end}"
        raise DatesOutOfRangeError(f"asked for the days {asked}, but the data runs from {first} to {last}")
    if start is not None:
        frame = frame[frame["date"] >= start]
    if end is not None:
        frame = frame[frame["date"] <= end]
    return SourceBars(
        frame=frame.reset_index(drop=True),
        layout=bars.layout,
        detected=bars.detected,
        closes_only=bars.closes_only,
        real_fields=bars.real_fields,
        files=bars.files,
        tickers_by_file=bars.tickers_by_file,
        ignored_columns=bars.ignored_columns,
    )


def _detect(tables: list[tuple[Path, pd.DataFrame]]) -> Layout:
    if len(tables) > 1:
        return "per-ticker"
    path, table = tables[0]
    columns = columns_of(table)
    if "date" not in columns:
        raise MissingColumnsError(f"{path.name} lacks {wanted(['date'])}; found {found(table)}")
    if "ticker" in columns:
        return "long"
    if "close" in columns:
        return "per-ticker"
    return "wide"


def _ticker_of(path: Path, ticker_from: str | None) -> str:
    if ticker_from is None:
        return path.stem.upper()
    try:
        pattern = re.compile(ticker_from)
    except re.error as exc:
        raise UnknownFormatError(f"--ticker-from {ticker_from!r} is not a regular expression: {exc}") from None
    match = pattern.search(path.stem)
    if match is None:
        raise UnknownFormatError(f"--ticker-from {ticker_from!r} does not match the file name {path.name}")
    return (match.group(1) if pattern.groups else match.group(0)).upper()


# ---- the layouts -------------------------------------------------------------------------------


def _bars(
    path: Path,
    table: pd.DataFrame,
    ticker: str | None,
    closes_only: bool,
    adjusted: bool,
    date_format: str | None,
    ignored: list[str],
) -> pd.DataFrame:
    columns = columns_of(table)
    needed = ["date", "close"] + (["ticker"] if ticker is None else [])
    if adjusted:
        needed.append("adj_close")
    missing = [name for name in needed if name not in columns]
    if missing:
        raise MissingColumnsError(f"{path.name} lacks {wanted(missing)}; found {found(table)}")
    absent = [name for name in ("open", "high", "low", "volume") if name not in columns]
    if absent and not closes_only:
        if len(absent) == 4:
            raise ClosesOnlyError(
                f"{path.name} has closes only (no open, high, low or volume; found {found(table)});"
                " import it with --closes-only"
            )
        raise MissingColumnsError(
            f"{path.name} lacks {wanted(absent)}; found {found(table)} (or import closes only with --closes-only)"
        )
    if "adj_close" in columns and not adjusted:
        ignored.append(columns["adj_close"])
    used = set(columns.values()) if not closes_only else {columns[n] for n in needed}
    ignored.extend(str(c) for c in table.columns if str(c) not in used and column_key(c) not in ("", "unnamed_0"))
    frame = pd.DataFrame({"date": dates_in(path, table, columns["date"], date_format)})
    frame["ticker"] = ticker if ticker is not None else tickers_in(path, table, columns["ticker"])
    close = numbers(path, table, columns["close"])
    if closes_only:
        real = numbers(path, table, columns["adj_close"]) if adjusted else close
        for name in PRICE_FIELDS:
            frame[name] = real
        frame["volume"] = np.nan
    else:
        factor = numbers(path, table, columns["adj_close"]) / close if adjusted else 1.0
        for name in PRICE_FIELDS:
            frame[name] = numbers(path, table, columns[name]) * factor
        frame["volume"] = numbers(path, table, columns["volume"])
    frame["origin"] = origins(path, table)
    return frame


def _wide(path: Path, table: pd.DataFrame, date_format: str | None, ignored: list[str]) -> pd.DataFrame:
    columns = columns_of(table)
    if "date" not in columns:
        raise MissingColumnsError(f"{path.name} lacks {wanted(['date'])}; found {found(table)}")
    days = dates_in(path, table, columns["date"], date_format)
    row_origins = origins(path, table)
    pieces = []
    for column in table.columns:
        if str(column) == columns["date"]:
            continue
        raw = table[column]
        text = raw.dtype.kind not in "iuf"
        if text and not pd.to_numeric(raw.astype(str).str.replace(",", "", regex=False), errors="coerce").notna().any():
            ignored.append(str(column))  # no number at all: a label column, not a ticker
            continue
        values = numbers(path, table, column)
        keep = ~np.isnan(values)
        piece = pd.DataFrame({"date": days[keep], "ticker": str(column).strip().upper()})
        for name in PRICE_FIELDS:
            piece[name] = values[keep]
        piece["volume"] = np.nan
        piece["origin"] = row_origins[keep]
        pieces.append(piece)
    if not pieces:
        raise NoPriceColumnsError(
            f"{path.name} is a wide file with no numeric column besides {columns['date']!r}; found {found(table)}"
        )
    return pd.concat(pieces, ignore_index=True)


# ---- whole-file rules ----------------------------------------------------------------------------


def _refuse_duplicates(frame: pd.DataFrame, what: str = "bars") -> None:
    repeated = frame.duplicated(["date", "ticker"], keep=False)
    if not repeated.any():
        return
    groups = frame[repeated].groupby(["date", "ticker"], sort=True)
    shown = [
        f"{ticker} {day} ({', '.join(str(o) for o in group['origin'])})"
        for (day, ticker), group in list(groups)[:_SHOWN]
    ]
    total = groups.ngroups
    more = f" and {total - _SHOWN} more" if total > _SHOWN else ""
    raise DuplicateBarsError(f"{total} duplicate {what} (same date and ticker): {'; '.join(shown)}{more}")


def _refuse_gaps(frame: pd.DataFrame, max_gap_days: int) -> None:
    for ticker, group in frame.groupby("ticker", sort=True):
        ordinals = np.array([d.toordinal() for d in group["date"]], dtype=np.int64)
        if len(ordinals) < 2:
            continue
        gaps = np.diff(ordinals)
        median = float(np.median(gaps))
        if median > 4:
            raise MixedFrequencyError(
                f"{ticker}: bars are a median {median:g} days apart ({group['date'].iloc[0]}, "
                f"{group['date'].iloc[1]}, ...): weekly or sparser; this import takes daily bars"
            )
        worst = int(np.argmax(gaps))
        if gaps[worst] > max_gap_days:
            days = group["date"].to_numpy()
            raise MixedFrequencyError(
                f"{ticker}: irregular gap of {gaps[worst]} days from {days[worst]} to {days[worst + 1]}"
                f" ({group['origin'].iloc[worst + 1]}) in daily bars; the limit is {max_gap_days}"
                " (setting data_import.max_gap_days)"
            )
