"""`aegis health`: one health check of this deployment, printed as a table (or JSON); exit 1 when not ready.

It checks what the settings name (PostgreSQL or the embedded SQLite file, Redis, the bus, the workers'
heartbeats, the providers as seen by this process, CPU, memory, disk) and emits no event: a look, not a
report. A store it cannot open at all is one line and exit 2, like any command.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aegis.pipeline import Pipeline
from aegis.runtime.health_monitor import HealthMonitor
from aegis.runtime.health_report import HealthReport
from aegis.settings import Settings

NOT_READY = 1
_COLOUR = {"ok": "green", "degraded": "yellow", "down": "red"}


async def _check(settings: Settings) -> HealthReport:
    async with await Pipeline.open(settings) as pipeline:
        monitor = HealthMonitor(pipeline, settings.health, emit=False)
        try:
            return await monitor.check_once()
        finally:
            await monitor.close()


def _table(report: HealthReport) -> Table:
    table = Table(title=f"health of {report.origin} at {report.checked_at:%Y-%m-%d %H:%M:%S %Z}")
    for column in ("component", "status", "ms", "detail"):
        table.add_column(column, justify="right" if column == "ms" else "left")
    for c in report.components:
        status = f"[{_COLOUR[c.status]}]{c.status}[/]" + (" *" if c.required else "")
        table.add_row(c.component, status, f"{c.latency_ms:.1f}", c.detail)
    return table


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check every component once; exit 1 when a required component (marked *) is down."""
    settings = Settings()
    report = asyncio.run(_check(settings))
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2))
    else:
        console = Console(soft_wrap=True, highlight=False)
        console.print(_table(report))
        verdict = "ready" if report.ready else "NOT READY"
        console.print(f"overall: {report.status}; {verdict}")
    if not report.ready:
        raise typer.Exit(NOT_READY)
