"""One table of a user's price file: reading it (CSV or Parquet), finding its columns by alias, and turning
its cells into numbers and days, refusing (never guessing) what does not parse.

Every row keeps its origin ("file:line" for CSV, the header being line 1; "file:row N" for Parquet) so a
problem can be pointed at. A blank price cell becomes NaN; text where a number belongs is an error.
Dates are ISO, or one of a few common formats when exactly one of them reads every row; timestamps at
several times of day are intraday data and refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tools.feeds.source_errors import (
    EmptySourceError,
    MissingColumnsError,
    MixedFrequencyError,
    NonNumericValueError,
    UnknownFormatError,
    UnreadableSourceError,
)

__all__ = [
    "ALIASES",
    "DATA_SUFFIXES",
    "column_key",
    "columns_of",
    "dates_in",
    "found",
    "numbers",
    "origins",
    "read_table",
    "tickers_in",
    "wanted",
]

DATA_SUFFIXES = (".csv", ".parquet", ".pq")
ALIASES: dict[str, tuple[str, ...]] = {
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


def read_table(path: Path) -> pd.DataFrame:
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


def column_key(name: object) -> str:
    return re.sub(r"[\s_.-]+", "_", str(name).strip().casefold()).strip("_")


def columns_of(table: pd.DataFrame) -> dict[str, str]:
    """Our field name -> the table's column, by alias; the first matching column wins."""
    keyed = {column_key(column): str(column) for column in reversed(list(table.columns))}
    found: dict[str, str] = {}
    for field, aliases in ALIASES.items():
        for alias in aliases:
            if alias in keyed:
                found[field] = keyed[alias]
                break
    return found


def where(path: Path, table: pd.DataFrame, row: int) -> str:
    first = table.attrs.get("first_line")
    return f"{path.name}, line {row + first}" if first is not None else f"{path.name}, row {row + 1}"


def origins(path: Path, table: pd.DataFrame) -> np.ndarray[tuple[int], np.dtype[np.object_]]:
    first = table.attrs.get("first_line")
    rows = np.arange(len(table))
    labels = (
        [f"{path.name}:{r + first}" for r in rows] if first is not None else [f"{path.name}:row {r + 1}" for r in rows]
    )
    return np.array(labels, dtype=object)


def numbers(path: Path, table: pd.DataFrame, column: object) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
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
            f"{where(path, table, row)}, column {str(column)!r}: {raw.iloc[row]!r} is not a number{also}"
        )
    parsed: np.ndarray[tuple[int], np.dtype[np.float64]] = values.to_numpy(dtype=np.float64)
    return parsed


def tickers_in(path: Path, table: pd.DataFrame, column: str) -> pd.Series:
    tickers = table[column].astype(str).str.strip().str.upper()
    empty = tickers.isin(["", "NAN", "NONE"])
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise MissingColumnsError(f"{where(path, table, row)}, column {column!r}: empty ticker")
    return tickers.reset_index(drop=True)


def dates_in(
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
        raise UnknownFormatError(f"{where(path, table, row)}, column {column!r}: {text.iloc[row]!r} is not {hint}")
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
        f" at {where(path, table, int(rows[0])).split(', ', 1)[1]}); this import takes daily bars"
    )


def wanted(fields: Sequence[str]) -> str:
    shown = [f"{field} ({'/'.join(ALIASES[field][:3])})" for field in fields]
    return f"column{'s' if len(shown) > 1 else ''} {', '.join(shown)}"


def found(table: pd.DataFrame) -> str:
    names = [str(c) for c in table.columns]
    return ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0].strip() or type(exc).__name__
