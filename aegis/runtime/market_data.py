"""Which market data a command runs on (`--data NAME`: an imported dataset; none: the bundled data), and the
checks of what a command asks of it (tickers, a window), each a one-line `DataChoiceError` saying what the
data holds.

Closes-only data (`Dataset.closes_only`: open, high and low are the close, volume unknown) is run honestly:
- the bars keep open = high = low = close and volume 0 (`Bar` needs a number; 0 = "unknown" here, and the
  quant report flags `no_volume` instead of `insufficient_history`, `quant.report`);
- the volume rules (the screen's `volume_surge`, the sets' `volume_spike`, the growth strategy's volume
  confirmation) cannot fire and are skipped, with the reason written in the run summary and the set manifest;
- ATR (position sizing, the report's `atr_pct`) is the close-to-close true range: |close - previous close|.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tools.feeds.bundled import DailyPanel
from tools.feeds.datasets import Dataset, bundled_dataset, load_dataset

FloatArray = npt.NDArray[np.float64]

CLOSES_ONLY_NOTE = (
    "closes only: open/high/low are the close, volume is unknown (volume rules skipped, ATR from close-to-close moves)"
)


class DataChoiceError(ValueError):
    """A command asked the data for something it does not hold; one line saying what it holds."""


def choose_dataset(data_dir: Path, name: str | None) -> Dataset:
    """The imported dataset `name` in `data_dir`, or the bundled data when `name` is None."""
    return bundled_dataset() if name is None else load_dataset(data_dir, name)


def data_label(dataset: Dataset) -> str:
    """How a summary names the data: bundled, or the dataset's name, source and hash."""
    if dataset.source.startswith("tape:"):
        return "bundled real daily data"
    return f"dataset {dataset.name} ({dataset.source}, sha256 {dataset.sha256[:12]})"


def fields_note(dataset: Dataset) -> str:
    """Which fields of the data are real, in words (closes-only data says what that leaves out)."""
    return CLOSES_ONLY_NOTE if dataset.closes_only else f"real fields: {', '.join(dataset.real_fields)}"


def pick_symbols(dataset: Dataset, asked: Sequence[str] | None) -> tuple[str, ...] | None:
    """The asked tickers (upper case, each once), all of them in the data; None: all of them."""
    if asked is None:
        return None
    wanted = tuple(dict.fromkeys(s.strip().upper() for s in asked if s.strip()))
    held = dataset.panel.symbols
    unknown = [s for s in wanted if s not in held]
    if unknown or not wanted:
        what = f"unknown symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}" if unknown else "no symbol"
        raise DataChoiceError(f"{what}; {_held(dataset)}: {', '.join(held)}")
    return wanted


def covers(dataset: Dataset) -> str:
    dates = dataset.panel.dates
    return f"{_named(dataset)} covers {dates[0]}..{dates[-1]}"


def window_panel(
    dataset: Dataset,
    symbols: Sequence[str] | None,
    start: date | None,
    end: date | None,
    *,
    needs_days: int,
    needs_why: str,
) -> DailyPanel:
    """The data narrowed to `symbols` and `start`..`end`, checked: inside the data, and more than `needs_days`
    trading days (`needs_why`: who needs them and what for, e.g. "a run ... (they warm up the indicators)")."""
    if start is not None and end is not None and start > end:
        raise DataChoiceError(f"--start {start} is after --end {end}")
    panel = dataset.panel.symbols_subset(list(symbols)) if symbols else dataset.panel
    part = panel.window(start, end)
    first, last = start or panel.dates[0], end or panel.dates[-1]
    if not part.dates:
        raise DataChoiceError(f"no trading days between {first} and {last}; {covers(dataset)}")
    if len(part.dates) <= needs_days:
        raise DataChoiceError(
            f"{len(part.dates)} trading days from {part.dates[0]} to {part.dates[-1]}; "
            f"{needs_why.replace('...', f'needs more than {needs_days}')}; {covers(dataset)}"
        )
    return part


def screen_volume(panel: DailyPanel) -> FloatArray:
    """The volume the screens read: a closes-only cell (prices there, volume unknown) reads 0, so the cell is
    screened on its closes and the volume rules see no baseline and never fire."""
    unknown = ~np.isfinite(panel.volume) & np.isfinite(panel.close)
    return np.where(unknown, 0.0, panel.volume)


def _held(dataset: Dataset) -> str:
    return "bundled symbols" if dataset.source.startswith("tape:") else f"dataset {dataset.name!r} holds"


def _named(dataset: Dataset) -> str:
    return "the bundle" if dataset.source.startswith("tape:") else f"dataset {dataset.name!r}"
