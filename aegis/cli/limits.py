"""`aegis limits show`, `aegis limits set NAME VALUE --reason ... [--role trade|admin]`, `aegis limits reset
NAME --reason ...`: the risk limits in force and the operator's changes of them.

They work on the durable store the settings name (or `--data-dir`), so they act on running workers too:
each session reads the limits in force at its start. Tightening a limit needs the trade role (the default),
loosening it the admin role, given explicitly:

    aegis limits set daily_loss_limit_pct 2 --reason "rough week"
    aegis limits set daily_loss_limit_pct 4 --role admin --reason "back to normal, desk lead"
    aegis limits reset daily_loss_limit_pct --role admin --reason "the setting again"
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from aegis.cli.bots import DataDir, on_records
from aegis.cli.control import operator_name, require_reason
from aegis.pipeline import Pipeline
from state.access import Access, AccessDeniedError
from state.risk_limits import LimitChange
from state.store.base import StoreConflictError
from tools.ops.limits import ADJUSTABLE, LimitState, UnknownLimitError

app = typer.Typer(no_args_is_help=True, help="The risk limits: show them, change one, reset one (audited).")
console = Console(soft_wrap=True, highlight=False, markup=False)
_T = TypeVar("_T")

Name = Annotated[str, typer.Argument(metavar="NAME", help=f"The limit: {', '.join(ADJUSTABLE)}")]
Reason = Annotated[str, typer.Option("--reason", help="Why: recorded with the change and in the audit log")]
Actor = Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")]
Role = Annotated[str, typer.Option("--role", help="The role to act with: trade (tighten) or admin (loosen as well)")]
ROLES = (Access.TRADE, Access.ADMIN)


@app.command("show")
def show(data_dir: DataDir = None) -> None:
    """Each limit an operator may change: the value in force, the setting, and who changed it, when and why."""
    states = _on_limits(data_dir, lambda p: p.limits.states())
    console.print(f"{'limit':<24} {'in force':>9} {'setting':>9}  last change")
    for state in states:
        console.print(_row(state))


@app.command("set")
def set_limit(
    name: Name,
    value: Annotated[float, typer.Argument(metavar="VALUE", help="The new value, in percent")],
    reason: Reason,
    actor: Actor = None,
    role: Role = "trade",
    data_dir: DataDir = None,
) -> None:
    """Change a limit: a lower value tightens it (trade role), a higher one loosens it (--role admin)."""
    require_reason(reason)
    access = _role(role)
    who = actor or operator_name()
    change = _on_limits(data_dir, lambda p: p.limits.set(name, value, actor=who, reason=reason, role=access))
    console.print(_said(change))


@app.command("reset")
def reset(name: Name, reason: Reason, actor: Actor = None, role: Role = "trade", data_dir: DataDir = None) -> None:
    """Back to the setting: a tightening (trade role) or a loosening (--role admin) like any other change."""
    require_reason(reason)
    access = _role(role)
    who = actor or operator_name()
    change = _on_limits(data_dir, lambda p: p.limits.reset(name, actor=who, reason=reason, role=access))
    console.print(_said(change))


def _role(role: str) -> Access:
    chosen = next((r for r in ROLES if r.value == role.strip().lower()), None)
    if chosen is None:
        raise typer.BadParameter(f"{role!r} is not a role here: trade or admin", param_hint="--role")
    return chosen


def _row(state: LimitState) -> str:
    change = state.last_change
    said = "never changed" if change is None else f"{'reset' if change.is_reset else 'set'} {_who(change)}"
    return f"{state.name:<24} {state.in_force:>7g} % {state.setting:>7g} %  {said}"


def _who(change: LimitChange) -> str:
    return f"by {change.actor} ({change.role}) at {change.at.isoformat()}: {change.reason}"


def _said(change: LimitChange) -> str:
    if not change.moved:
        return f"{change.name} stays {change.after:g} %: already in force"
    return f"{change.name} {change.before:g} % -> {change.after:g} % {_who(change)}"


def _on_limits(data_dir: Path | None, work: Callable[[Pipeline], Awaitable[_T]]) -> _T:
    """`on_records`, a refused change (an unknown limit, a value the limits refuse, a role that does not allow
    it, a change made meanwhile by someone else) reported as one line (exit 2)."""

    async def guarded(pipeline: Pipeline) -> _T:
        try:
            return await work(pipeline)
        except UnknownLimitError as exc:
            raise typer.BadParameter(str(exc), param_hint="NAME") from None
        except AccessDeniedError as exc:
            raise typer.BadParameter(str(exc), param_hint="--role") from None
        except (ValueError, StoreConflictError) as exc:
            raise typer.BadParameter(str(exc)) from None

    return on_records(data_dir, guarded)
