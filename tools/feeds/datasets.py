"""Imported daily datasets: how they are stored under `<data_dir>/datasets/<name>/`, and how they are read.

This module owns the stored form of a user's imported data and turning it back into a `DailyPanel`.
A dataset folder holds:
- `bars.csv`: long format, header `date,ticker,open,high,low,close,volume`, sorted by date then ticker;
  for closes-only data open/high/low repeat the close and volume is empty;
- `vix.csv` (optional): `date,close`;
- `provenance.json`: where the data came from (paths and sha256 of the sources), the sha256 of the stored
  files, when and how it was imported, what was kept and rejected (written by the importer).

Decisions that must not be silently changed:
- A stored file whose sha256 differs from its provenance is refused (`DatasetCorruptError`): a run on
  an imported dataset is only as reproducible as the hash it records.
- For closes-only data the panel's open/high/low equal the close and volume is NaN, and `closes_only`
  is True; nothing downstream may treat those as real bars (`real_fields` says which fields are real).
- The VIX of a day is the last VIX close on or before that day (no look-ahead), as for the bundled data.
- Names are folder names: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.feeds.bundled import (
    BUNDLED_STOCKS_FILE,
    DailyPanel,
    FeedError,
    _vix_as_of,
    load_bundled_daily,
)

if TYPE_CHECKING:
    import pandas as pd  # imported where used: about 130 MB with pyarrow, for imported data only

__all__ = [
    "ALL_FIELDS",
    "BARS_FILE",
    "BUNDLED_SOURCE",
    "DATASETS_FOLDER",
    "PROVENANCE_FILE",
    "VIX_FILE",
    "Dataset",
    "DatasetCorruptError",
    "DatasetExistsError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "InvalidDatasetNameError",
    "bundled_dataset",
    "check_name",
    "dataset_folder",
    "file_sha256",
    "list_datasets",
    "load_dataset",
    "panel_from_frame",
    "read_provenance",
    "store_dataset",
]

DATASETS_FOLDER = "datasets"
BARS_FILE = "bars.csv"
VIX_FILE = "vix.csv"
PROVENANCE_FILE = "provenance.json"
BUNDLED_SOURCE = "tape:bundled-daily"
BUNDLED_NAME = "bundled-daily"
ALL_FIELDS = ("open", "high", "low", "close", "volume")
BAR_COLUMNS = ("date", "ticker", *ALL_FIELDS)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class DatasetNotFoundError(FeedError, ValueError):
    """No dataset of that name; names the ones that exist."""

    def __init__(self, name: str, known: list[str], data_dir: Path) -> None:
        where = data_dir / DATASETS_FOLDER
        have = f"known: {', '.join(known)}" if known else "none imported yet (aegis data import PATH --name NAME)"
        super().__init__(f"no dataset named {name!r} in {where}; {have}")
        self.name = name
        self.known = tuple(known)


class DatasetCorruptError(FeedError, ValueError):
    """A stored dataset is incomplete or no longer matches its provenance."""


class InvalidDatasetNameError(FeedError, ValueError):
    """A dataset name that cannot be a folder name."""


class DatasetExistsError(FeedError, ValueError):
    """Importing under a name already taken, without --replace."""


@dataclass(frozen=True)
class Dataset:
    """Daily bars ready for a run: the panel, what is real in it, and where it came from."""

    name: str
    panel: DailyPanel
    sha256: str  # of the stored data file (bars.csv; the bundled stocks file for the bundled data)
    closes_only: bool
    real_fields: tuple[str, ...]  # e.g. ("close",) or ("open", "high", "low", "close", "volume")
    source: str  # "data:<name>", or "tape:bundled-daily" for the bundled data
    imported_at: datetime | None


@dataclass(frozen=True)
class DatasetInfo:
    """What `aegis data list` shows of one imported dataset, read from its provenance only."""

    name: str
    tickers: tuple[str, ...]
    first_date: date
    last_date: date
    rows: int
    closes_only: bool
    real_fields: tuple[str, ...]
    format: str
    imported_at: datetime
    sha256: str
    has_vix: bool


def check_name(name: str) -> str:
    """`name` if it can name a dataset folder; else `InvalidDatasetNameError`."""
    if not _NAME.fullmatch(name):
        raise InvalidDatasetNameError(
            f"dataset name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def dataset_folder(data_dir: Path, name: str) -> Path:
    return data_dir / DATASETS_FOLDER / check_name(name)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def known_names(data_dir: Path) -> list[str]:
    root = data_dir / DATASETS_FOLDER
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / PROVENANCE_FILE).is_file())


def read_provenance(data_dir: Path, name: str) -> dict[str, Any]:
    """The provenance of dataset `name`; `DatasetNotFoundError` (naming the known ones) if there is none."""
    folder = dataset_folder(data_dir, name)
    path = folder / PROVENANCE_FILE
    if not path.is_file():
        raise DatasetNotFoundError(name, known_names(data_dir), data_dir)
    try:
        provenance: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetCorruptError(f"dataset {name!r}: {path} is not valid JSON ({exc})") from None
    return provenance


def load_dataset(data_dir: Path, name: str) -> Dataset:
    """The imported dataset `name` from `<data_dir>/datasets/<name>/`, its hashes verified."""
    import pandas as pd

    provenance = read_provenance(data_dir, name)
    folder = dataset_folder(data_dir, name)
    bars_path = folder / BARS_FILE
    _verify(name, bars_path, provenance["stored"]["sha256"])
    bars = pd.read_csv(
        bars_path,
        dtype={"ticker": str, **dict.fromkeys(ALL_FIELDS, np.float64)},
        keep_default_na=False,
        na_values={"volume": [""]},
    )
    vix: pd.DataFrame | None = None
    if provenance.get("vix_stored"):
        vix_path = folder / VIX_FILE
        _verify(name, vix_path, provenance["vix_stored"]["sha256"])
        vix = pd.read_csv(vix_path, dtype={"close": np.float64})
    panel = panel_from_frame(bars, vix)
    return Dataset(
        name=name,
        panel=panel,
        sha256=str(provenance["stored"]["sha256"]),
        closes_only=bool(provenance["closes_only"]),
        real_fields=tuple(provenance["real_fields"]),
        source=f"data:{name}",
        imported_at=datetime.fromisoformat(provenance["imported_at"]),
    )


def bundled_dataset() -> Dataset:
    """The bundled US daily bars (2012-2017, with the VIX) as a `Dataset`."""
    stocks = resources.files("aegis") / "data" / "market" / BUNDLED_STOCKS_FILE
    return Dataset(
        name=BUNDLED_NAME,
        panel=load_bundled_daily(),
        sha256=hashlib.sha256(stocks.read_bytes()).hexdigest(),
        closes_only=False,
        real_fields=ALL_FIELDS,
        source=BUNDLED_SOURCE,
        imported_at=None,
    )


def list_datasets(data_dir: Path) -> list[DatasetInfo]:
    """The imported datasets under `data_dir`, by name."""
    infos = []
    for name in known_names(data_dir):
        p = read_provenance(data_dir, name)
        infos.append(
            DatasetInfo(
                name=name,
                tickers=tuple(p["tickers"]),
                first_date=date.fromisoformat(p["first_date"]),
                last_date=date.fromisoformat(p["last_date"]),
                rows=int(p["rows_kept"]),
                closes_only=bool(p["closes_only"]),
                real_fields=tuple(p["real_fields"]),
                format=str(p["format"]),
                imported_at=datetime.fromisoformat(p["imported_at"]),
                sha256=str(p["stored"]["sha256"]),
                has_vix=bool(p.get("vix_stored")),
            )
        )
    return infos


def store_dataset(
    data_dir: Path,
    name: str,
    bars: pd.DataFrame,
    vix: pd.DataFrame | None,
    provenance: dict[str, Any],
    *,
    replace: bool = False,
) -> dict[str, Any]:
    """Write `bars` (and `vix`) in the stored form with `provenance` completed by the stored files' hashes.

    The folder appears whole or not at all (written beside it, then renamed). An existing dataset of the
    same name is refused unless `replace`. Returns the provenance as written.
    """
    folder = dataset_folder(data_dir, name)
    if folder.exists() and not replace:
        raise DatasetExistsError(f"a dataset named {name!r} already exists in {folder.parent}; add --replace")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder.parent))
    try:
        frame = bars.loc[:, list(BAR_COLUMNS)].sort_values(["date", "ticker"], kind="stable")
        frame.to_csv(staging / BARS_FILE, index=False, float_format="%.10g", lineterminator="\n")
        written = dict(provenance)
        written["stored"] = {"file": BARS_FILE, "sha256": file_sha256(staging / BARS_FILE)}
        written["vix_stored"] = None
        if vix is not None:
            vix.loc[:, ["date", "close"]].sort_values("date").to_csv(
                staging / VIX_FILE, index=False, float_format="%.10g", lineterminator="\n"
            )
            written["vix_stored"] = {"file": VIX_FILE, "sha256": file_sha256(staging / VIX_FILE)}
        (staging / PROVENANCE_FILE).write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written


def panel_from_frame(bars: pd.DataFrame, vix: pd.DataFrame | None = None) -> DailyPanel:
    """A panel from long bars (columns date, ticker, open, high, low, close, volume; one row per date and
    ticker) and an optional VIX frame (date, close)."""
    import pandas as pd

    days = pd.to_datetime(bars["date"]).dt.date
    dates = tuple(sorted(set(days)))
    symbols = tuple(sorted(set(bars["ticker"])))
    row_of = {day: i for i, day in enumerate(dates)}
    column_of = {symbol: j for j, symbol in enumerate(symbols)}
    rows = np.fromiter((row_of[d] for d in days), dtype=np.intp, count=len(bars))
    columns = np.fromiter((column_of[s] for s in bars["ticker"]), dtype=np.intp, count=len(bars))

    def field(name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        grid = np.full((len(dates), len(symbols)), np.nan, dtype=np.float64)
        grid[rows, columns] = bars[name].to_numpy(dtype=np.float64)
        grid.flags.writeable = False
        return grid

    vix_closes: list[tuple[date, float]] = []
    if vix is not None:
        vix_days = pd.to_datetime(vix["date"]).dt.date
        vix_closes = sorted(zip(vix_days, vix["close"].astype(float), strict=True))
    aligned, as_of = _vix_as_of(dates, vix_closes)  # each day's VIX and the day it was closed on
    aligned.flags.writeable = False
    return DailyPanel(
        dates=dates,
        symbols=symbols,
        open=field("open"),
        high=field("high"),
        low=field("low"),
        close=field("close"),
        volume=field("volume"),
        vix=aligned,
        vix_as_of=as_of,
    )


def _verify(name: str, path: Path, expected: str) -> None:
    if not path.is_file():
        raise DatasetCorruptError(f"dataset {name!r}: {path.name} is missing from {path.parent}; import it again")
    actual = file_sha256(path)
    if actual != expected:
        raise DatasetCorruptError(
            f"dataset {name!r}: {path.name} has sha256 {actual[:12]}..., its provenance records {expected[:12]}...;"
            " the file changed since it was imported (import it again with --replace)"
        )
