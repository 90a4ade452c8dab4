"""`aegis keys create NAME --role read|trade|admin`, `aegis keys list`, `aegis keys revoke KEY_ID --reason ...`:
the REST server's API keys. A new key is printed once; only its hash is stored. Made and revoked from a shell
on the deployment (whoever can run this can read the records anyway), audited with the login name."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from aegis.cli.bots import DataDir, on_records
from aegis.cli.control import operator_name, require_reason
from state.access import Access
from state.clock import WallClock
from tools.ops.api_keys import KeyControl

app = typer.Typer(no_args_is_help=True, help="API keys for `aegis serve`: create, list, revoke (audited).")
console = Console(soft_wrap=True, highlight=False, markup=False)
Actor = Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Whose key or what it is for, e.g. grafana")],
    role: Annotated[Access, typer.Option("--role", help="read, trade or admin")] = Access.READ,
    actor: Actor = None,
    data_dir: DataDir = None,
) -> None:
    """Make a key with a role and print it, this once."""
    if not name.strip():
        raise typer.BadParameter("give the key a name", param_hint="NAME")
    issued = on_records(
        data_dir, lambda p: KeyControl(p.services.store, WallClock()).create(name, role, by=actor or operator_name())
    )
    console.print(f"key {issued.record.key_id} ({issued.record.role}) for {issued.record.name}:")
    console.print(issued.key)
    console.print("Shown once: keep it in a secret store. Send it as 'Authorization: Bearer <key>'.")


@app.command("list")
def list_keys(data_dir: DataDir = None) -> None:
    """Every key: id, role, name, who made it and when, and whether it is revoked (never the key)."""
    keys = on_records(data_dir, lambda p: KeyControl(p.services.store, WallClock()).keys())
    console.print(f"{'key id':<13} {'role':<6} {'name':<24} {'created':<20} status")
    for key in keys:
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M} by {key.revoked_by}"
        console.print(f"{key.key_id:<13} {key.role:<6} {key.name:<24} {key.created_at:%Y-%m-%d %H:%M}Z{'':<3} {state}")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id, from `aegis keys list`")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log")],
    actor: Actor = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: it never authenticates again (within the servers' 5 s cache)."""
    require_reason(reason)
    revoked = on_records(
        data_dir,
        lambda p: KeyControl(p.services.store, WallClock()).revoke(key_id, by=actor or operator_name(), reason=reason),
    )
    console.print(f"key {revoked.key_id} ({revoked.name}) revoked")
