"""`aegis data import PATH --name NAME`, `aegis data list`, `aegis data show NAME`: the user's own daily data.

    aegis data import prices.csv --name mine                      # long: date, ticker, OHLCV
    aegis data import closes.csv --name closes --closes-only      # wide: a date and one close column per ticker
    aegis data import 'quotes/*.csv' --name etfs --ticker-from '^([A-Z]+)'   # one file per ticker
    aegis data list
    aegis data show mine

An import reads the file(s) (CSV or Parquet), runs the data-quality checks, stores what passes under
`<data_dir>/datasets/NAME/` with its provenance, and prints a report. A file it cannot understand is refused
in one line (exit 2) and nothing is stored.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from aegis.runtime.data_import import ImportReport, RowIssue, import_dataset
from aegis.settings import Settings
from tools.feeds.dataset_sources import Layout as SourceLayout
from tools.feeds.dataset_sources import expand_paths
from tools.feeds.datasets import list_datasets, read_provenance

app = typer.Typer(no_args_is_help=True, help="Your own daily data: import it, list it, show where it came from.")
console = Console(soft_wrap=True, highlight=False, markup=False)


class Layout(StrEnum):
    LONG = "long"
    WIDE = "wide"
    PER_TICKER = "per-ticker"


_LAYOUTS: dict[Layout, SourceLayout] = {Layout.LONG: "long", Layout.WIDE: "wide", Layout.PER_TICKER: "per-ticker"}

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="The data folder (default: AEGIS_DATA_DIR, else data)")
]


@app.command("import")
def import_(
    path: Annotated[str, typer.Argument(metavar="PATH", help="A .csv or .parquet file, a folder of them, or a glob")],
    name: Annotated[str, typer.Option("--name", help="The dataset's name (a folder name)")],
    layout: Annotated[
        Layout | None, typer.Option("--format", help="long, wide or per-ticker (default: detected)")
    ] = None,
    closes_only: Annotated[
        bool, typer.Option("--closes-only", help="The data has closes only (no open, high, low, volume)")
    ] = False,
    adjusted: Annotated[bool, typer.Option("--adjusted", help="Use the Adj Close column as the close")] = False,
    ticker_from: Annotated[
        str | None,
        typer.Option(
            "--ticker-from", help="Per-ticker files: a regex whose first group, in the file stem, is the ticker"
        ),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strftime format of the dates, e.g. '%d/%m/%Y'")
    ] = None,
    tickers: Annotated[str | None, typer.Option("--tickers", help="Only these tickers, comma-separated")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First day to import, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day to import, YYYY-MM-DD")] = None,
    vix: Annotated[Path | None, typer.Option("--vix", help="A VIX file (date, close) stored with the data")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a dataset of the same name")] = False,
    data_dir: DataDir = None,
) -> None:
    """Import daily bars as a named dataset: checked, stored with their provenance, reported."""
    settings = Settings()
    files = expand_paths(path)
    config = settings.data_import
    big = sum(f.stat().st_size for f in files) >= config.progress_from_bytes
    chosen = [t.strip().upper() for t in tickers.split(",") if t.strip()] if tickers else None
    with _Steps(enabled=big) as steps:
        report = import_dataset(
            files,
            name,
            data_dir or settings.data_dir,
            layout=None if layout is None else _LAYOUTS[layout],
            closes_only=closes_only,
            adjusted=adjusted,
            ticker_from=ticker_from,
            date_format=date_format,
            tickers=chosen,
            start=_day(start, "--start"),
            end=_day(end, "--end"),
            vix=vix,
            replace=replace,
            config=config,
            progress=steps.update,
        )
    for line in report_lines(report, config.report_rows):
        console.print(line)
    if report.folder is None:
        raise typer.Exit(1)


@app.command("list")
def list_(data_dir: DataDir = None) -> None:
    """The imported datasets: tickers, dates, rows, what is real, when imported."""
    folder = data_dir or Settings().data_dir
    infos = list_datasets(folder)
    if not infos:
        console.print(f"no dataset in {folder / 'datasets'} (aegis data import PATH --name NAME)")
        return
    console.print(f"{'name':<20} {'tickers':>7} {'first':<10} {'last':<10} {'rows':>9}  {'fields':<18} imported")
    for info in infos:
        fields = "close only" if info.closes_only else "OHLCV"
        fields += " +VIX" if info.has_vix else ""
        console.print(
            f"{info.name:<20} {len(info.tickers):>7} {info.first_date} {info.last_date} {info.rows:>9,}"
            f"  {fields:<18} {info.imported_at:%Y-%m-%d %H:%M}Z ({info.format})"
        )


@app.command("show")
def show(name: Annotated[str, typer.Argument(metavar="NAME")], data_dir: DataDir = None) -> None:
    """One dataset's provenance: its sources and their hashes, what was kept and rejected, and why."""
    p = read_provenance(data_dir or Settings().data_dir, name)
    detected = " (detected)" if p.get("format_detected") else ""
    console.print(f"dataset   {name}: {p['format']}{detected}, imported {p['imported_at']}")
    for source in p["sources"]:
        console.print(f"source    {source['path']}  sha256 {source['sha256']}")
    if p.get("vix_source"):
        console.print(f"vix       {p['vix_source']['path']}  sha256 {p['vix_source']['sha256']} ({p['vix_rows']} rows)")
    else:
        console.print(f"vix       {NO_VIX}")
    console.print(f"stored    {p['stored']['file']}  sha256 {p['stored']['sha256']}")
    real = ", ".join(p["real_fields"])
    console.print(
        f"fields    {real}" + ("  (closes only: open/high/low = close, no volume)" if p["closes_only"] else "")
    )
    console.print(f"tickers   {len(p['tickers'])}: {', '.join(p['tickers'])}")
    console.print(f"dates     {p['first_date']} .. {p['last_date']}")
    console.print(
        f"rows      {p['rows_read']:,} read, {p['rows_kept']:,} kept, {p['rows_rejected']:,} rejected,"
        f" {p['rows_flagged']:,} flagged; quality {p['quality_score']:.4f}"
    )
    for issue in p["rejected"][:10]:
        console.print(f"  rejected {issue['origin']}  {issue['ticker']} {issue['date']}: {issue['reason']}")
    if p["rows_rejected"] > min(10, len(p["rejected"])):
        console.print(f"  ... {p['rows_rejected'] - min(10, len(p['rejected']))} more rejected")


NO_VIX = (
    "none: runs and sets on this data have no VIX, so every session is defensive (VIX unknown);"
    " --vix FILE stores one, e.g. the bundled aegis/data/market/vix_daily_cboe_1990_2026.csv (CBOE, 1990-2026)"
)


def report_lines(report: ImportReport, shown: int) -> list[str]:
    """The import report as printed: what was read, kept, rejected and flagged, and where it landed."""
    files = ", ".join(f.name for f in report.files[:3]) + (
        f" and {len(report.files) - 3} more" if len(report.files) > 3 else ""
    )
    how = "detected" if report.detected else "as given"
    real = "closes only (real fields: close)" if report.closes_only else "OHLCV"
    lines = [f"import    {files} as {report.name!r}: {report.layout} format ({how}), {real}"]
    if report.tickers_by_file:
        pairs = [f"{file} -> {ticker}" for file, ticker in report.tickers_by_file[:shown]]
        more = f" and {len(report.tickers_by_file) - shown} more" if len(report.tickers_by_file) > shown else ""
        lines.append(f"tickers from file names: {'; '.join(pairs)}{more}")
    if report.ignored_columns:
        lines.append(f"ignored   columns {', '.join(report.ignored_columns)}")
    if report.tickers:
        lines.append(f"tickers   {len(report.tickers)}: {', '.join(report.tickers)}")
        lines.append(f"dates     {report.first_date} .. {report.last_date}")
    lines.append(
        f"rows      {report.rows_read:,} read, {report.rows_kept:,} kept, {len(report.rejected):,} rejected,"
        f" {len(report.flagged):,} flagged (kept)"
    )
    lines.append(f"quality   {report.score:.4f} (data-quality score, 1 = no issue; row-weighted over tickers)")
    if report.issues_by_kind:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in report.issues_by_kind.items())
        lines.append(f"issues    {kinds}")
    lines += _rows("rejected (not imported)", report.rejected, shown)
    lines += _rows("flagged (kept)", report.flagged, shown)
    if report.vix_rows:
        lines.append(f"vix       {report.vix_rows:,} closes")
    elif report.folder is not None:
        lines.append(f"vix       {NO_VIX}")
    if report.folder is None:
        lines.append("stored    nothing: every row was rejected")
    else:
        lines.append(f"stored    {report.folder} (bars.csv sha256 {report.sha256}; provenance.json)")
    return lines


def _rows(title: str, issues: tuple[RowIssue, ...], shown: int) -> list[str]:
    if not issues:
        return []
    lines = [f"{title}: {len(issues):,}"]
    for issue in issues[:shown]:
        lines.append(f"  {issue.origin}  {issue.ticker} {issue.day}  [{', '.join(issue.kinds)}] {issue.reason}")
    if len(issues) > shown:
        lines.append(f"  ... and {len(issues) - shown:,} more (the first 1,000 are in provenance.json)")
    return lines


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a YYYY-MM-DD date", param_hint=option) from None


class _Steps:
    """A rich progress bar on stderr for big imports; nothing for small ones."""

    def __init__(self, *, enabled: bool) -> None:
        self._progress = (
            Progress(
                TextColumn("{task.description:<9}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                console=Console(stderr=True),
                transient=True,
            )
            if enabled
            else None
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Steps:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, step: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        if step not in self._tasks:
            self._tasks[step] = self._progress.add_task(step, total=total)
        self._progress.update(self._tasks[step], completed=done, total=total)
