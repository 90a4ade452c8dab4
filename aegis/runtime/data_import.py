"""Importing a user's daily price files as a named dataset: read, check, reject what fails, store, report.

This module owns the import as one operation (`import_dataset`): the sources are read by
`tools.feeds.dataset_sources`, every ticker's bars go through the checks of `quant.data_quality`, and what
passes is stored by `tools.feeds.datasets.store_dataset` with its provenance. It returns an `ImportReport`
the command line prints.

Decisions that must not be silently changed:
- A row that fails a price rule (a missing or non-finite value, a price <= 0, high below the body, low
  above it, negative volume) is not imported; the report and the provenance say which row and why.
- Return outliers and zero-volume bars are flagged, not rejected: earnings days and halted names are real.
- A file the importer cannot understand stops the whole import before anything is written; an import
  that keeps no row stores nothing.
- The provenance records the sha256 of every source file (hashed as read) and of the stored files, so a
  dataset can be traced to the bytes it came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from aegis.runtime.data_import_config import DataImportConfig
from quant.data_quality import Check, Finding, check_ohlcv, zero_volume
from tools.feeds.dataset_sources import Layout, SourceBars, narrow, read_sources, read_vix
from tools.feeds.datasets import DatasetExistsError, check_name, dataset_folder, file_sha256, store_dataset

__all__ = ["DataImportConfig", "ImportReport", "RowIssue", "import_dataset"]

REJECTING = frozenset(
    {Check.NON_FINITE, Check.NON_POSITIVE_PRICE, Check.HIGH_BELOW_BODY, Check.LOW_ABOVE_BODY, Check.NEGATIVE_VOLUME}
)
_KEPT_IN_PROVENANCE = 1000  # rejected rows listed in provenance.json (the count is always whole)

Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass(frozen=True)
class RowIssue:
    """A row the checks rejected or flagged: where it came from, and why."""

    origin: str  # "file:line" or "file:row N"
    ticker: str
    day: date
    kinds: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ImportReport:
    name: str
    layout: Layout
    detected: bool
    closes_only: bool
    real_fields: tuple[str, ...]
    files: tuple[Path, ...]
    tickers_by_file: tuple[tuple[str, str], ...]
    ignored_columns: tuple[str, ...]
    rows_read: int
    rows_kept: int
    rejected: tuple[RowIssue, ...]
    flagged: tuple[RowIssue, ...]
    issues_by_kind: dict[str, int]  # findings per check, rejecting and flagging alike
    score: float  # quality in [0, 1]: the row-weighted mean of each ticker's data-quality score
    tickers: tuple[str, ...]
    first_date: date | None
    last_date: date | None
    folder: Path | None  # where it was stored; None when nothing was kept
    sha256: str | None  # of the stored bars file
    vix_rows: int


def import_dataset(
    paths: Sequence[Path],
    name: str,
    data_dir: Path,
    *,
    layout: Layout | None = None,
    closes_only: bool = False,
    adjusted: bool = False,
    ticker_from: str | None = None,
    date_format: str | None = None,
    tickers: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    vix: Path | None = None,
    replace: bool = False,
    config: DataImportConfig | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read `paths`, check them, store what passes as dataset `name` under `data_dir`, and report."""
    settings = config or DataImportConfig()
    check_name(name)
    if dataset_folder(data_dir, name).exists() and not replace:
        # Checked first too, so a long import is not done only to be refused at the end.
        raise DatasetExistsError(f"a dataset named {name!r} already exists in {data_dir / 'datasets'}; add --replace")
    step = progress or (lambda _step, _done, _total: None)
    step("reading", 0, len(paths))
    hashes = {path: file_sha256(path) for path in paths}
    source = read_sources(
        paths,
        layout=layout,
        closes_only=closes_only,
        adjusted=adjusted,
        ticker_from=ticker_from,
        date_format=date_format,
        max_gap_days=settings.max_gap_days,
    )
    step("reading", len(paths), len(paths))
    source = narrow(source, tickers, start, end) if (tickers or start or end) else source
    vix_frame = read_vix(vix, date_format) if vix is not None else None
    kept, rejected, flagged, counts, score = _check(source, settings.outlier_threshold, step)
    vix_rows = 0 if vix_frame is None else len(vix_frame)

    def report(folder: Path | None, sha256: str | None) -> ImportReport:
        days = sorted(set(kept["date"]))
        return ImportReport(
            name=name,
            layout=source.layout,
            detected=source.detected,
            closes_only=source.closes_only,
            real_fields=source.real_fields,
            files=source.files,
            tickers_by_file=source.tickers_by_file,
            ignored_columns=source.ignored_columns,
            rows_read=len(source.frame),
            rows_kept=len(kept),
            rejected=rejected,
            flagged=flagged,
            issues_by_kind=counts,
            score=score,
            tickers=tuple(sorted(set(kept["ticker"]))),
            first_date=days[0] if days else None,
            last_date=days[-1] if days else None,
            folder=folder,
            sha256=sha256,
            vix_rows=vix_rows,
        )

    if kept.empty:
        return report(None, None)
    days = kept["date"]
    provenance = {
        "name": name,
        "format": source.layout,
        "format_detected": source.detected,
        "sources": [{"path": str(path.resolve()), "sha256": hashes[path]} for path in paths],
        "vix_source": None if vix is None else {"path": str(vix.resolve()), "sha256": file_sha256(vix)},
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "closes_only": source.closes_only,
        "real_fields": list(source.real_fields),
        "adjusted": adjusted,
        "rows_read": len(source.frame),
        "rows_kept": len(kept),
        "rows_rejected": len(rejected),
        "rejected": [_issue_json(issue) for issue in rejected[:_KEPT_IN_PROVENANCE]],
        "rows_flagged": len(flagged),
        "flagged": [_issue_json(issue) for issue in flagged[:_KEPT_IN_PROVENANCE]],
        "issues_by_kind": counts,
        "quality_score": round(score, 6),
        "first_date": min(days).isoformat(),
        "last_date": max(days).isoformat(),
        "tickers": sorted(set(kept["ticker"])),
        "vix_rows": vix_rows,
    }
    step("writing", 0, 1)
    stored_frame = kept.assign(date=[d.isoformat() for d in days])
    vix_stored = None if vix_frame is None else vix_frame.assign(date=[d.isoformat() for d in vix_frame["date"]])
    written = store_dataset(data_dir, name, stored_frame, vix_stored, provenance, replace=replace)
    step("writing", 1, 1)
    return report(dataset_folder(data_dir, name), str(written["stored"]["sha256"]))


def _check(
    source: SourceBars, outlier_threshold: float, step: Progress
) -> tuple[pd.DataFrame, tuple[RowIssue, ...], tuple[RowIssue, ...], dict[str, int], float]:
    frame = source.frame
    groups = list(frame.groupby("ticker", sort=True))
    bad_rows: dict[int, list[Finding]] = {}
    odd_rows: dict[int, list[Finding]] = {}
    counts: Counter[str] = Counter()
    weighted = 0.0
    for done, (_, group) in enumerate(groups):
        step("checking", done, len(groups))
        index = group.index.to_numpy()
        volume = group["volume"].to_numpy(dtype=np.float64)
        days = np.array(group["date"].tolist(), dtype="datetime64[D]")
        quality = check_ohlcv(
            group["open"].to_numpy(dtype=np.float64),
            group["high"].to_numpy(dtype=np.float64),
            group["low"].to_numpy(dtype=np.float64),
            group["close"].to_numpy(dtype=np.float64),
            np.zeros_like(volume) if source.closes_only else volume,
            dates=days,
            outlier_threshold=outlier_threshold,
        )
        findings = list(quality.findings)
        if not source.closes_only:
            findings += zero_volume(volume, days)
        weighted += quality.score * len(group)
        for finding in findings:
            counts[finding.check.value] += 1
            if finding.row is None:
                continue
            target = bad_rows if finding.check in REJECTING else odd_rows
            target.setdefault(int(index[finding.row]), []).append(finding)
    step("checking", len(groups), len(groups))
    rejected = tuple(_issue(frame, row, found) for row, found in sorted(bad_rows.items()))
    flagged = tuple(_issue(frame, row, found) for row, found in sorted(odd_rows.items()) if row not in bad_rows)
    kept = frame.drop(index=list(bad_rows)).drop(columns=["origin"])
    score = weighted / len(frame) if len(frame) else 0.0
    return kept, rejected, flagged, dict(sorted(counts.items())), score


def _issue(frame: pd.DataFrame, row: int, findings: list[Finding]) -> RowIssue:
    kinds = tuple(dict.fromkeys(f.check.value for f in findings))
    return RowIssue(
        origin=str(frame.at[row, "origin"]),
        ticker=str(frame.at[row, "ticker"]),
        day=frame.at[row, "date"],
        kinds=kinds,
        reason="; ".join(dict.fromkeys(f.reason for f in findings)),
    )


def _issue_json(issue: RowIssue) -> dict[str, object]:
    return {
        "origin": issue.origin,
        "ticker": issue.ticker,
        "date": issue.day.isoformat(),
        "kinds": list(issue.kinds),
        "reason": issue.reason,
    }
