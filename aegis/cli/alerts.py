"""`aegis alerts list|ack`: the persisted alerts and their acknowledgement (which stops the escalation)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from aegis.cli.control import operator_name
from aegis.pipeline import Pipeline
from aegis.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Alerts: list, acknowledge")
console = Console(soft_wrap=True, highlight=False)


@app.command("list")
def list_alerts(
    all_: bool = typer.Option(False, "--all", help="Acknowledged ones too"),
    limit: int = typer.Option(50, "--limit", min=1),
) -> None:
    """Alerts, newest first (unacknowledged only unless --all)."""

    async def run() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            found = await pipeline.services.store.alerts(unacknowledged_only=not all_, limit=limit)
        if not found:
            console.print("no alerts" if all_ else "no unacknowledged alerts")
        for alert in found:
            ack = f" (acknowledged by {alert.acknowledged_by})" if alert.acknowledged else ""
            console.print(
                f"{alert.alert_id} {alert.raised_at:%Y-%m-%d %H:%M:%S} {alert.level.upper():<9} "
                f"step {alert.escalation_step} {alert.kind}: {alert.message}{ack}"
            )

    asyncio.run(run())


@app.command("ack")
def ack(alert_id: str, actor: str | None = typer.Option(None, "--actor")) -> None:
    """Acknowledge an alert: its escalation stops."""

    async def run() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            try:
                done = await pipeline.alerting.acknowledge(alert_id, actor or operator_name())
            except KeyError:
                console.print(f"[red]no alert {alert_id}[/]")
                raise typer.Exit(1) from None
        console.print(f"acknowledged {done.alert_id} ({done.kind}) by {done.acknowledged_by}")

    asyncio.run(run())
