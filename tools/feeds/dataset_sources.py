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

from tools.feeds.bundled import FeedError

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
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
_SHOWN = 3  # examples quoted in an error line

_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "datetime", "timestamp", "time", "day", "trade_date", "trading_date"),
    "ticker": ("ticker", "symbol", "tic", "asset"),
    "open": ("open", "open_price"),
    "high": ("high", "high_price"),
    "low": ("low", "low_price"),
    "close": ("close", "close_price", "price", "last"),
    "adj_close": ("adj_close", "adjclose", "adjusted_close", "adj_close_price"),
    "volume": ("volume", "vol"),
}
_DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "%Y/%m/%d", "%d.%m.%Y")


class SourceError(FeedError, ValueError):
    """A source file that cannot be imported as it is; the message says where and why, in one line."""


class MissingColumnsError(SourceError):
    pass


class ClosesOnlyError(SourceError):
    pass


class MixedFrequencyError(SourceError):
    pass


class DuplicateBarsError(SourceError):
    pass


class NonNumericValueError(SourceError):
    pass


class EmptySourceError(SourceError):
    pass


class UnknownFormatError(SourceError):
    pass


class UnreadableSourceError(SourceError):
    pass


class NoPriceColumnsError(SourceError):
    pass


class UnknownTickersError(SourceError):
    pass


class DatesOutOfRangeError(SourceError):
    pass


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
    tables = [(path, _read_table(path)) for path in files]
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
    table = _read_table(path)
    columns = _columns(table)
    missing = [name for name in ("date", "close") if name not in columns]
    if missing:
        raise MissingColumnsError(f"{path.name} (VIX) lacks {_wanted(missing)}; found {_found(table)}")
    days = _dates(path, table, columns["date"], date_format)
    closes = _numbers(path, table, columns["close"])
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


# ---- reading a table ---------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise UnknownFormatError(f"{path.name}: unknown file type {suffix or '(none)'!r}; takes .csv or .parquet")
    if path.stat().st_size == 0:
        raise EmptySourceError(f"{path.name} is empty")
    if suffix == ".csv":
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise EmptySourceError(f"{path.name} is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise UnreadableSourceError(f"cannot read {path.name} as CSV: {_one_line(exc)}") from None
        table.attrs["first_line"] = 2  # the header is line 1
    else:
        try:
            table = pd.read_parquet(path)
        except ImportError as exc:
            raise UnreadableSourceError(f"cannot read {path.name}: {_one_line(exc)}") from None
        except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError and more for a bad file
            raise UnreadableSourceError(f"cannot read {path.name} as Parquet: {_one_line(exc)}") from None
        table = table.reset_index() if not isinstance(table.index, pd.RangeIndex) else table
    if table.empty:
        raise EmptySourceError(f"{path.name} has a header but no data rows")
    return table


def _key(name: object) -> str:
    return re.sub(r"[\s_.-]+", "_", str(name).strip().casefold()).strip("_")


def _columns(table: pd.DataFrame) -> dict[str, str]:
    """Our field name -> the table's column, by alias; the first matching column wins."""
    keyed = {_key(column): str(column) for column in reversed(list(table.columns))}
    found: dict[str, str] = {}
    for field, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in keyed:
                found[field] = keyed[alias]
                break
    return found


def _detect(tables: list[tuple[Path, pd.DataFrame]]) -> Layout:
    if len(tables) > 1:
        return "per-ticker"
    path, table = tables[0]
    columns = _columns(table)
    if "date" not in columns:
        raise MissingColumnsError(f"{path.name} lacks {_wanted(['date'])}; found {_found(table)}")
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
    columns = _columns(table)
    needed = ["date", "close"] + (["ticker"] if ticker is None else [])
    if adjusted:
        needed.append("adj_close")
    missing = [name for name in needed if name not in columns]
    if missing:
        raise MissingColumnsError(f"{path.name} lacks {_wanted(missing)}; found {_found(table)}")
    absent = [name for name in ("open", "high", "low", "volume") if name not in columns]
    if absent and not closes_only:
        if len(absent) == 4:
            raise ClosesOnlyError(
                f"{path.name} has closes only (no open, high, low or volume; found {_found(table)});"
                " import it with --closes-only"
            )
        raise MissingColumnsError(
            f"{path.name} lacks {_wanted(absent)}; found {_found(table)} (or import closes only with --closes-only)"
        )
    if "adj_close" in columns and not adjusted:
        ignored.append(columns["adj_close"])
    used = set(columns.values()) if not closes_only else {columns[n] for n in needed}
    ignored.extend(str(c) for c in table.columns if str(c) not in used and _key(c) not in ("", "unnamed_0"))
    frame = pd.DataFrame({"date": _dates(path, table, columns["date"], date_format)})
    frame["ticker"] = ticker if ticker is not None else _tickers(path, table, columns["ticker"])
    close = _numbers(path, table, columns["close"])
    if closes_only:
        real = _numbers(path, table, columns["adj_close"]) if adjusted else close
        for name in PRICE_FIELDS:
            frame[name] = real
        frame["volume"] = np.nan
    else:
        factor = _numbers(path, table, columns["adj_close"]) / close if adjusted else 1.0
        for name in PRICE_FIELDS:
            frame[name] = _numbers(path, table, columns[name]) * factor
        frame["volume"] = _numbers(path, table, columns["volume"])
    frame["origin"] = _origins(path, table)
    return frame


def _wide(path: Path, table: pd.DataFrame, date_format: str | None, ignored: list[str]) -> pd.DataFrame:
    columns = _columns(table)
    if "date" not in columns:
        raise MissingColumnsError(f"{path.name} lacks {_wanted(['date'])}; found {_found(table)}")
    days = _dates(path, table, columns["date"], date_format)
    origins = _origins(path, table)
    pieces = []
    for column in table.columns:
        if str(column) == columns["date"]:
            continue
        raw = table[column]
        text = raw.dtype.kind not in "iuf"
        if text and not pd.to_numeric(raw.astype(str).str.replace(",", "", regex=False), errors="coerce").notna().any():
            ignored.append(str(column))  # no number at all: a label column, not a ticker
            continue
        values = _numbers(path, table, column)
        keep = ~np.isnan(values)
        piece = pd.DataFrame({"date": days[keep], "ticker": str(column).strip().upper()})
        for name in PRICE_FIELDS:
            piece[name] = values[keep]
        piece["volume"] = np.nan
        piece["origin"] = origins[keep]
        pieces.append(piece)
    if not pieces:
        raise NoPriceColumnsError(
            f"{path.name} is a wide file with no numeric column besides {columns['date']!r}; found {_found(table)}"
        )
    return pd.concat(pieces, ignore_index=True)


# ---- cells ---------------------------------------------------------------------------------------


def _where(path: Path, table: pd.DataFrame, row: int) -> str:
    first = table.attrs.get("first_line")
    return f"{path.name}, line {row + first}" if first is not None else f"{path.name}, row {row + 1}"


def _origins(path: Path, table: pd.DataFrame) -> np.ndarray[tuple[int], np.dtype[np.object_]]:
    first = table.attrs.get("first_line")
    rows = np.arange(len(table))
    labels = (
        [f"{path.name}:{r + first}" for r in rows] if first is not None else [f"{path.name}:row {r + 1}" for r in rows]
    )
    return np.array(labels, dtype=object)


def _numbers(path: Path, table: pd.DataFrame, column: object) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    raw = table[column]
    if raw.dtype.kind in "iuf":
        numbers: np.ndarray[tuple[int], np.dtype[np.float64]] = raw.to_numpy(dtype=np.float64)
        return numbers
    text = raw.astype(str).str.strip().str.replace(",", "", regex=False)
    blank = text.isin(["", "nan", "NaN", "NA", "N/A", "null", "None"]) | raw.isna()
    values = pd.to_numeric(text.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        more = int(bad.sum()) - 1
        also = f" ({more} more in this column)" if more else ""
        raise NonNumericValueError(
            f"{_where(path, table, row)}, column {str(column)!r}: {raw.iloc[row]!r} is not a number{also}"
        )
    parsed: np.ndarray[tuple[int], np.dtype[np.float64]] = values.to_numpy(dtype=np.float64)
    return parsed


def _tickers(path: Path, table: pd.DataFrame, column: str) -> pd.Series:
    tickers = table[column].astype(str).str.strip().str.upper()
    empty = tickers.isin(["", "NAN", "NONE"])
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise MissingColumnsError(f"{_where(path, table, row)}, column {column!r}: empty ticker")
    return tickers.reset_index(drop=True)


def _dates(
    path: Path, table: pd.DataFrame, column: str, date_format: str | None
) -> np.ndarray[tuple[int], np.dtype[np.object_]]:
    raw = table[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        stamps = pd.Series(pd.DatetimeIndex(raw).tz_localize(None) if getattr(raw.dt, "tz", None) else raw)
    else:
        stamps = _parse_dates(path, table, column, date_format)
    _refuse_intraday(path, table, column, stamps)
    return np.array(stamps.dt.date.to_numpy(), dtype=object)


def _parse_dates(path: Path, table: pd.DataFrame, column: str, date_format: str | None) -> pd.Series:
    text = table[column].astype(str).str.strip()
    formats = (date_format,) if date_format else ("ISO8601", *_DATE_FORMATS)
    fits = []
    for fmt in formats:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=False)
        if parsed.notna().all():
            fits.append((fmt, parsed))
            if fmt == "ISO8601":
                break
    if len(fits) > 1 and {fits[0][0], fits[1][0]} == {"%m/%d/%Y", "%d/%m/%Y"}:
        raise UnknownFormatError(
            f"{path.name}, column {column!r}: dates like {text.iloc[0]!r} read as both month/day and day/month;"
            " give --date-format '%m/%d/%Y' or '%d/%m/%Y'"
        )
    if not fits:
        parsed = pd.to_datetime(text, format=formats[0] if date_format else "ISO8601", errors="coerce")
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        hint = f"format {date_format!r}" if date_format else "a date (YYYY-MM-DD, M/D/YYYY, ...; or give --date-format)"
        raise UnknownFormatError(f"{_where(path, table, row)}, column {column!r}: {text.iloc[row]!r} is not {hint}")
    parsed = fits[0][1]
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed


def _refuse_intraday(path: Path, table: pd.DataFrame, column: str, stamps: pd.Series) -> None:
    times = stamps - stamps.dt.normalize()
    distinct = times.unique()
    if len(distinct) <= 1:
        return  # all at midnight, or all at one time of day (a daily file stamped at the close)
    first_day = stamps.dt.normalize().iloc[0]
    rows = np.flatnonzero((stamps.dt.normalize() == first_day).to_numpy())[:2]
    if len(rows) < 2:
        rows = np.flatnonzero((times != times.iloc[0]).to_numpy())[:1]
        rows = np.array([0, rows[0]])
    seen = " and ".join(f"{stamps.iloc[r]:%Y-%m-%d %H:%M}" for r in rows)
    raise MixedFrequencyError(
        f"{path.name}, column {column!r}: intraday timestamps ({len(distinct)} times of day, e.g. {seen}"
        f" at {_where(path, table, int(rows[0])).split(', ', 1)[1]}); this import takes daily bars"
    )


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


def _wanted(fields: Sequence[str]) -> str:
    shown = [f"{field} ({'/'.join(_ALIASES[field][:3])})" for field in fields]
    return f"column{'s' if len(shown) > 1 else ''} {', '.join(shown)}"


def _found(table: pd.DataFrame) -> str:
    names = [str(c) for c in table.columns]
    return ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0].strip() or type(exc).__name__
