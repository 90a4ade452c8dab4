"""`aegis halt`, `aegis resume`, `aegis status`: the kill switch and the operator's view of the account.

They work on the durable store the settings name (the embedded SQLite file in `data_dir`, or PostgreSQL),
so they act on running workers too: a session checks the trading state immediately before the broker.
"""

from __future__ import annotations

import asyncio
import getpass

import typer
from rich.console import Console

from aegis.ops_status import status as read_status
from aegis.pipeline import Pipeline
from aegis.settings import Settings
from state.trading import ACCOUNT_SCOPE
from tools.ops.trading import ResetRequiredError, describe

console = Console(soft_wrap=True, highlight=False)


def require_reason(reason: str) -> None:
    if not reason.strip():
        console.print("[red]refused:[/] --reason must say why (it goes into the audit log)")
        raise typer.Exit(2)


def operator_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def halt(
    reason: str = typer.Option(..., "--reason", help="Why: recorded in the audit log"),
    symbol: str | None = typer.Option(None, "--symbol", help="Halt one symbol instead of the account"),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: the login name)"),
) -> None:
    """The kill switch: HALTED now (account or symbol), every open order cancelled; survives restarts."""
    require_reason(reason)

    async def run() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            report = await pipeline.halt(reason=reason, actor=actor or operator_name(), scope=symbol or ACCOUNT_SCOPE)
        console.print(f"HALTED {report.status.scope}: {reason}; {len(report.cancelled)} open orders cancelled")
        for order in report.cancelled:
            console.print(
                f"  cancelled {order.order_id} {order.request.side} {order.request.quantity:g} {order.request.symbol}"
            )
        if not report.waited_for_sessions:
            console.print("[yellow]a session held the account lock past the wait: check `aegis status` again[/]")

    asyncio.run(run())


def resume(
    reason: str = typer.Option(..., "--reason", help="Why: recorded in the audit log"),
    symbol: str | None = typer.Option(None, "--symbol", help="Resume one symbol instead of the account"),
    reset: bool = typer.Option(False, "--reset", help="Authorised reset of a halt set by a loss limit or a breach"),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: the login name)"),
) -> None:
    """Back to ACTIVE (account or symbol). A halt from a loss limit or a data-integrity breach needs --reset."""
    require_reason(reason)

    async def run() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            try:
                done = await pipeline.resume(
                    reason=reason, actor=actor or operator_name(), scope=symbol or ACCOUNT_SCOPE, reset=reset
                )
            except ResetRequiredError as exc:
                console.print(f"[red]refused:[/] {exc}; resume with --reset if you are authorised")
                raise typer.Exit(1) from None
        console.print(f"ACTIVE {done.scope}: {reason}")

    asyncio.run(run())


def status() -> None:
    """Trading state (account and symbols), posture, open orders, exposure against each limit, the failure
    tier in force and unacknowledged alerts."""

    async def run() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            now = pipeline.services.clock.now()
            found = await read_status(pipeline)
        console.print(f"trading  {describe(found.trading.account, now)}")
        for own in found.trading.symbols.values():
            console.print(f"         {describe(own, now)}")
        console.print(f"posture  {found.posture} ({found.posture_reason})")
        tier = found.tier if found.tier.startswith("tier:") else "none (set by an operator or at start)"
        console.print(f"tier     {tier}")
        console.print(f"orders   {len(found.open_orders)} open")
        for order in found.open_orders:
            r = order.request
            price = f" @ {r.limit_price:g}" if r.limit_price is not None else ""
            console.print(f"         {order.order_id}: {r.side} {r.quantity:g} {r.symbol} {r.order_type}{price}")
        console.print("limits")
        for use in found.limits:
            console.print(f"         {use.line}")
        console.print(f"alerts   {len(found.alerts)} unacknowledged")
        for alert in found.alerts:
            console.print(f"         {alert.alert_id} {alert.level.upper()} {alert.kind}: {alert.message}")

    asyncio.run(run())
