"""`aegis bots list | stop ID | resume ID`: the operator's view and control of the bots.

They work on the durable store the settings name (the embedded SQLite file in the data folder, or
PostgreSQL), so they act on running workers too: sessions read the bots at their start. `--data-dir`
points at a run's records (`aegis run` prints the folder).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from aegis.cli.control import operator_name, require_reason
from aegis.cli.records import records_settings
from aegis.pipeline import Pipeline
from aegis.runtime.bot_report import bot_rows, table_lines
from state.bots import Bot
from tools.ops.bots import UnknownBotError

app = typer.Typer(no_args_is_help=True, help="The bots: list them, stop one, resume one (audited).")
console = Console(soft_wrap=True, highlight=False)
_T = TypeVar("_T")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="The records' folder (default: AEGIS_DATA_DIR, else data)")
]


def on_records(data_dir: Path | None, work: Callable[[Pipeline], Awaitable[_T]]) -> _T:
    """Run `work` on a pipeline over the records of `data_dir` (default: the settings' own)."""
    settings = records_settings(data_dir)

    async def run() -> _T:
        async with await Pipeline.open(settings) as pipeline:
            try:
                return await work(pipeline)
            except UnknownBotError as exc:
                raise typer.BadParameter(str(exc), param_hint="ID") from None

    return asyncio.run(run())


@app.command("list")
def list_bots(data_dir: DataDir = None) -> None:
    """Every bot: allocation, state (who stopped it and why), P&L, return, Sharpe, drawdown, positions."""

    async def rows(pipeline: Pipeline) -> list[str]:
        found = await bot_rows(pipeline.services.store)
        if not found:
            return ["no bots registered: every signal belongs to the default bot, which trades the whole account"]
        return [*table_lines(found, indent=""), "", *(f"{row.bot_id}: {row.state}, {row.why}" for row in found)]

    for line in on_records(data_dir, rows):
        console.print(line)


@app.command("stop")
def stop(
    bot_id: Annotated[str, typer.Argument(metavar="ID", help="The bot to stop")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Stop a bot: its signals are recorded and settled without any LLM call; its positions keep their brackets."""
    require_reason(reason)
    done = on_records(data_dir, lambda p: p.bots.stop(bot_id, actor=actor or operator_name(), reason=reason))
    console.print(_said(done))


@app.command("resume")
def resume(
    bot_id: Annotated[str, typer.Argument(metavar="ID", help="The bot to resume")],
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Resume a stopped bot: its next signals are deliberated again."""
    require_reason(reason)
    done = on_records(data_dir, lambda p: p.bots.resume(bot_id, actor=actor or operator_name(), reason=reason))
    console.print(_said(done))


def _said(bot: Bot) -> str:
    return f"{bot.bot_id}: {bot.state.upper()} ({bot.reason}, by {bot.actor})"
