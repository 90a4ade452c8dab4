"""The stored form of imported datasets: write, read back, verify, list; and the bundled data as a Dataset."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.feeds.bundled import DailyPanel, load_bundled_daily
from tools.feeds.datasets import (
    ALL_FIELDS,
    BARS_FILE,
    BUNDLED_SOURCE,
    DatasetCorruptError,
    DatasetExistsError,
    DatasetNotFoundError,
    InvalidDatasetNameError,
    bundled_dataset,
    file_sha256,
    list_datasets,
    load_dataset,
    store_dataset,
)


def _frame_of(panel: DailyPanel) -> pd.DataFrame:
    rows = [
        {
            "date": day.isoformat(),
            "ticker": symbol,
            **{f: float(getattr(panel, f)[i, j]) for f in ALL_FIELDS},
        }
        for i, day in enumerate(panel.dates)
        for j, symbol in enumerate(panel.symbols)
        if not np.isnan(panel.close[i, j])
    ]
    return pd.DataFrame(rows)


def _provenance(frame: pd.DataFrame, *, closes_only: bool = False) -> dict[str, Any]:
    return {
        "format": "long",
        "imported_at": datetime(2026, 12, 4, 15, 0, tzinfo=UTC).isoformat(),
        "closes_only": closes_only,
        "real_fields": ["close"] if closes_only else list(ALL_FIELDS),
        "rows_kept": len(frame),
        "first_date": min(frame["date"]),
        "last_date": max(frame["date"]),
        "tickers": sorted(set(frame["ticker"])),
    }


def _same(a: DailyPanel, b: DailyPanel) -> None:
    assert a.dates == b.dates
    assert a.symbols == b.symbols
    for name in (*ALL_FIELDS, "vix"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_bundled_dataset_is_the_bundled_panel() -> None:
    dataset = bundled_dataset()
    _same(dataset.panel, load_bundled_daily())
    assert dataset.source == BUNDLED_SOURCE
    assert not dataset.closes_only
    assert dataset.real_fields == ALL_FIELDS
    assert len(dataset.sha256) == 64


def test_a_stored_dataset_reads_back_as_the_same_panel_with_its_vix(tmp_path: Path) -> None:
    panel = load_bundled_daily(["AAPL", "MSFT"], date(2016, 1, 4), date(2016, 3, 31))
    bars = _frame_of(panel)
    vix_dates = [d.isoformat() for d in panel.dates[::2]]  # every other day: the gaps are carried forward
    vix = pd.DataFrame({"date": vix_dates, "close": panel.vix[::2]})
    written = store_dataset(tmp_path, "mine", bars, vix, _provenance(bars))
    dataset = load_dataset(tmp_path, "mine")
    _same(dataset.panel.symbols_subset(["AAPL", "MSFT"]), dataclasses.replace(panel, vix=dataset.panel.vix))
    carried = np.array([panel.vix[i - i % 2] for i in range(len(panel.dates))])  # a missing day: the day before
    np.testing.assert_array_equal(dataset.panel.vix, carried)
    assert dataset.sha256 == written["stored"]["sha256"] == file_sha256(tmp_path / "datasets" / "mine" / BARS_FILE)
    assert dataset.source == "data:mine"
    assert dataset.imported_at == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    [info] = list_datasets(tmp_path)
    assert (info.name, info.tickers, info.rows, info.has_vix) == ("mine", ("AAPL", "MSFT"), len(bars), True)


def test_closes_only_data_has_open_high_low_equal_to_the_close_and_no_volume(tmp_path: Path) -> None:
    panel = load_bundled_daily(["XOM"], date(2015, 6, 1), date(2015, 6, 30))
    bars = _frame_of(panel)
    for name in ("open", "high", "low"):
        bars[name] = bars["close"]
    bars["volume"] = np.nan
    store_dataset(tmp_path, "closes", bars, None, _provenance(bars, closes_only=True))
    dataset = load_dataset(tmp_path, "closes")
    assert dataset.closes_only and dataset.real_fields == ("close",)
    np.testing.assert_array_equal(dataset.panel.close, panel.close)
    np.testing.assert_array_equal(dataset.panel.high, panel.close)
    assert np.isnan(dataset.panel.volume).all()
    assert np.isnan(dataset.panel.vix).all()


def test_a_changed_stored_file_is_refused(tmp_path: Path) -> None:
    bars = _frame_of(load_bundled_daily(["AAPL"], date(2016, 1, 4), date(2016, 1, 29)))
    store_dataset(tmp_path, "mine", bars, None, _provenance(bars))
    stored = tmp_path / "datasets" / "mine" / BARS_FILE
    stored.write_text(stored.read_text().replace("AAPL", "AAPM", 1))
    with pytest.raises(DatasetCorruptError, match="changed since it was imported"):
        load_dataset(tmp_path, "mine")


def test_an_unknown_name_lists_the_known_ones_and_a_taken_name_needs_replace(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="none imported yet"):
        load_dataset(tmp_path, "nothing")
    bars = _frame_of(load_bundled_daily(["AAPL"], date(2016, 1, 4), date(2016, 1, 29)))
    store_dataset(tmp_path, "alpha", bars, None, _provenance(bars))
    store_dataset(tmp_path, "beta", bars, None, _provenance(bars))
    with pytest.raises(DatasetNotFoundError, match="known: alpha, beta"):
        load_dataset(tmp_path, "gamma")
    with pytest.raises(DatasetExistsError, match="--replace"):
        store_dataset(tmp_path, "alpha", bars, None, _provenance(bars))
    shorter = bars.iloc[:5]
    store_dataset(tmp_path, "alpha", shorter, None, _provenance(shorter), replace=True)
    assert len(load_dataset(tmp_path, "alpha").panel.dates) == 5
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["alpha", "beta"]  # no staging left
    with pytest.raises(InvalidDatasetNameError):
        load_dataset(tmp_path, "../escape")
