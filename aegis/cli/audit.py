"""`aegis audit verify` / `aegis audit export --out FILE.jsonl`: the record chains (`state.store.record_chain`).

`verify` recomputes every chain of the configured store (embedded SQLite by default, PostgreSQL when the
settings name it), reading the store alone: no system is started, so nothing is written to what is verified.
It prints per stream the rows checked and "ok", or the first row that does not match (stream, row, position,
expected and stored hash) and exits 1. `export` writes every link as one JSON line, which a third party checks
with hashlib and json alone (the README's snippet).

    aegis audit verify
    aegis audit export --out chain.jsonl
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.cli.bots import DataDir
from aegis.cli.records import on_store
from aegis.settings import Settings
from state.store.base import DurableStore
from state.store.record_chain import ChainedRow, StreamReport

app = typer.Typer(no_args_is_help=True, help="The tamper-evident record: verify the chains, export them.")
console = Console(soft_wrap=True, highlight=False, markup=False)

CHAIN_BROKEN = 1


def report_line(report: StreamReport) -> str:
    """One stream's result: rows checked and ok, or the first mismatch."""
    extra = f"{report.superseded} superseded by a later write, {report.unchained} unchained (before the chain)"
    if report.mismatch is not None:
        return f"{report.stream}: {report.checked} rows checked, then MISMATCH: {report.mismatch.describe()}"
    return f"{report.stream}: {report.checked} rows checked, ok ({extra}; head {report.head[:16]})"


@app.command("verify")
def verify(data_dir: DataDir = None) -> None:
    """Recompute every record chain; exit 1 naming the first row that does not match."""

    async def check(store: DurableStore, _: Settings) -> list[StreamReport]:
        return await store.verify_chains()

    reports = on_store(data_dir, check)
    for report in reports:
        console.print(report_line(report))
    if any(report.mismatch is not None for report in reports):
        raise typer.Exit(CHAIN_BROKEN)


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="The JSON-lines file to write")],
    data_dir: DataDir = None,
) -> None:
    """Write every link of every chain as one JSON line: stream, seq, row_key, columns (as hashed; null for a
    position a later write superseded), prev_hash, row_hash."""
    if not out.parent.is_dir():
        raise typer.BadParameter(f"{out.parent} is not a folder", param_hint="--out")

    async def read(store: DurableStore, _: Settings) -> list[ChainedRow]:
        return await store.export_chain()

    rows = on_store(data_dir, read)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(asdict(row), ensure_ascii=False, sort_keys=True) + "\n")
    console.print(f"{len(rows)} links written to {out}")
