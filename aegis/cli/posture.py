"""`aegis posture`, `aegis posture set POSTURE --reason ... [--minutes N | --until TIME]`, `aegis posture clear
--reason ...`: the posture in force and the operator's override.

They work on the durable store the settings name (or `--data-dir`), so they act on running processes too:
the posture watch rebuilds the sessions' hot copy from the durable record as the feed's clock moves.

    aegis posture set defensive --minutes 90 --reason "FOMC at 14:00"
    aegis posture clear --reason "FOMC passed"
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from aegis.cli.bots import DataDir, on_records
from aegis.cli.control import operator_name, require_reason
from aegis.pipeline import Pipeline
from quant.posture import posture_named
from state.posture import CurrentPosture, PostureBook
from tools.ops.posture import PostureChange, PostureRecordError

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="The posture in force (no command), an override by hand (set), its end (clear).",
)
console = Console(soft_wrap=True, highlight=False, markup=False)

Reason = Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log and the posture history")]
Actor = Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")]
SHOWN_CHANGES = 5
_T = TypeVar("_T")


@app.callback()
def show(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """The posture in force, where it comes from, when an override ends, and the last changes."""
    if ctx.invoked_subcommand is not None:
        return

    async def read(pipeline: Pipeline) -> tuple[CurrentPosture, PostureBook, list[PostureChange]]:
        control = pipeline.posture
        return await control.current(), await control.book(), await control.history(SHOWN_CHANGES)

    current, book, changes = _on_posture(data_dir, read)
    _print_current(current)
    if book.evaluated is not None and current.source != "evaluated":
        evaluated = book.evaluated
        console.print(f"evaluated {evaluated.posture} at {evaluated.at.isoformat()} ({evaluated.reason})")
    console.print(f"changes  last {len(changes)}" if changes else "changes  none recorded")
    for change in reversed(changes):
        console.print(f"         {change.at.isoformat()} {change.posture}: {change.reason}")


@app.command("set")
def set_posture(
    posture: Annotated[str, typer.Argument(metavar="POSTURE", help="offensive, neutral (guerrilla) or defensive")],
    reason: Reason,
    minutes: Annotated[float | None, typer.Option("--minutes", help="End the override after this many minutes")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End the override at this ISO time (UTC unless it says otherwise)")
    ] = None,
    actor: Actor = None,
    data_dir: DataDir = None,
) -> None:
    """Override the evaluated posture, in either direction, until cleared, for --minutes or --until a time.
    Stop-loss exits in a row and failed sessions still make the sessions defensive."""
    require_reason(reason)
    try:
        chosen = posture_named(posture)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="POSTURE") from None
    if minutes is not None and until is not None:
        raise typer.BadParameter("give --minutes or --until, not both")
    if minutes is not None and not (0 < minutes < 10_000_000):
        raise typer.BadParameter(f"must be a positive number of minutes, got {minutes:g}", param_hint="--minutes")
    ends = _until(until) if until is not None else None

    async def write(pipeline: Pipeline) -> CurrentPosture:
        end = ends
        if minutes is not None:
            end = pipeline.services.clock.now() + timedelta(minutes=minutes)
        return await pipeline.posture.override(chosen, reason=reason, actor=actor or operator_name(), until=end)

    _print_current(_on_posture(data_dir, write))


@app.command("clear")
def clear(reason: Reason, actor: Actor = None, data_dir: DataDir = None) -> None:
    """End the override in force: the evaluated posture applies again."""
    require_reason(reason)
    _print_current(_on_posture(data_dir, lambda p: p.posture.clear(reason=reason, actor=actor or operator_name())))


def _until(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {text!r} (e.g. 2026-12-04T15:30)", param_hint="--until") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _print_current(current: CurrentPosture) -> None:
    console.print(f"posture  {current.posture}")
    console.print(f"source   {current.source}: {current.reason}")
    if current.source == "override":
        console.print(f"until    {current.until.isoformat() if current.until is not None else 'cleared by hand'}")


def _on_posture(data_dir: Path | None, work: Callable[[Pipeline], Awaitable[_T]]) -> _T:
    """`on_records`, a refused change (nothing to clear, an end in the past, an unreadable record) reported as
    one line (exit 2)."""

    async def guarded(pipeline: Pipeline) -> _T:
        try:
            return await work(pipeline)
        except (ValueError, LookupError, PostureRecordError) as exc:
            raise typer.BadParameter(str(exc).strip("'")) from None

    return on_records(data_dir, guarded)
