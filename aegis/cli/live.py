"""`aegis live check | enable | disable | status`: the paper-to-live gate.

aegis live check                                  # each criterion with its figure; exit 0 only when all are met
aegis live enable --approver "J. Kim" --reason "three months of paper, reviewed"
aegis live disable --reason "back to paper after the outage"

Mode live (`AEGIS_MODE=live`) refuses to start until `enable` recorded an approval. These commands open the
records only (never the running system), so they work whichever mode is configured.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from aegis.cli.bots import DataDir
from aegis.cli.control import operator_name, require_reason
from aegis.cli.records import on_store
from aegis.runtime.live_gate import (
    LIVE_GATE_KEY,
    Criterion,
    LiveGateNotMetError,
    check_live_gate,
    disable_live,
    enable_live,
)
from aegis.runtime.paper_record import read_paper_record
from aegis.settings import Settings
from state.clock import WallClock
from state.store.base import DurableStore

app = typer.Typer(no_args_is_help=True, help="The paper-to-live gate: check the paper record, enable mode live.")
console = Console(soft_wrap=True, highlight=False, markup=False)


def _print(criteria: list[Criterion]) -> None:
    width = max(len(c.name) for c in criteria)
    for c in criteria:
        console.print(f"{'met' if c.met else 'NOT MET':<8} {c.name:<{width}}  {c.figure}  (needs {c.bound})")


@app.command("check")
def check(data_dir: DataDir = None) -> None:
    """Measure the paper record against the gate's criteria (`live_gate:` in the config)."""

    async def measure(store: DurableStore, settings: Settings) -> list[Criterion]:
        return check_live_gate(await read_paper_record(store, settings.starting_cash), settings.live_gate)

    criteria = on_store(data_dir, measure)
    _print(criteria)
    met = sum(c.met for c in criteria)
    console.print(f"{met} of {len(criteria)} criteria met: {'the gate is open' if met == len(criteria) else 'closed'}")
    if met < len(criteria):
        raise typer.Exit(1)


@app.command("enable")
def enable(
    approver: Annotated[str, typer.Option("--approver", help="Who approves going live (recorded and audited)")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log")],
    data_dir: DataDir = None,
) -> None:
    """Record the approval of mode live: only when every criterion is met now."""
    require_reason(reason)
    if not approver.strip():
        raise typer.BadParameter("name who approves", param_hint="--approver")

    async def approve(store: DurableStore, settings: Settings) -> list[Criterion]:
        record = await read_paper_record(store, settings.starting_cash)
        return await enable_live(
            store, record, settings.live_gate, approver=approver, reason=reason, at=WallClock().now()
        )

    try:
        criteria = on_store(data_dir, approve)
    except LiveGateNotMetError as exc:
        console.print(f"refused: {exc}")
        raise typer.Exit(1) from None
    _print(criteria)
    console.print(f"mode live approved by {approver}: start with AEGIS_MODE=live")


@app.command("disable")
def disable(
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Withdraw the approval: mode live refuses to start again until a new `enable`."""
    require_reason(reason)
    by = actor or operator_name()
    on_store(data_dir, lambda store, _: disable_live(store, by=by, reason=reason, at=WallClock().now()))
    console.print(f"mode live withdrawn by {by}")


@app.command("status")
def status(data_dir: DataDir = None) -> None:
    """The standing approval (or withdrawal) of mode live, as recorded."""

    async def read(store: DurableStore, _: Settings) -> object:
        held = await store.get_value(LIVE_GATE_KEY)
        return None if held is None else held[0]

    value = on_store(data_dir, read)
    console.print("never enabled" if value is None else json.dumps(value, indent=1, sort_keys=True))
