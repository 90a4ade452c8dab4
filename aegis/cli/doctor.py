"""`aegis doctor [--live]`: configuration, store reachability and, with --live, one call per provider."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aegis.doctor import run_doctor
from aegis.settings import Settings

_STYLE = {"ok": "green", "missing": "yellow", "skipped": "dim", "failed": "bold red", "info": ""}


def doctor(
    live: Annotated[bool, typer.Option(help="Make one minimal call to each configured provider")] = False,
) -> None:
    """Check the configuration, the stores and (with --live) the providers. Exits 1 if a check failed."""
    checks = run_doctor(Settings(), live)
    table = Table(title="aegis doctor")
    for column in ("area", "check", "status", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        style = _STYLE.get(check.status, "")
        table.add_row(check.area, check.name, f"[{style}]{check.status}[/]" if style else check.status, check.detail)
    Console().print(table)
    if any(check.status == "failed" for check in checks):
        raise typer.Exit(code=1)
