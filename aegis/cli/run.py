"""`aegis run`: the autonomous main job on the bundled real data (embedded defaults, no key, no server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.llm_mode import LLMMode, provider_label, with_llm_mode
from aegis.runtime.live_view import LiveView
from aegis.runtime.replay_job import ReplayOptions, run_replay
from aegis.settings import Settings


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def run(
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: all bundled)")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default: start of the bundle)")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: end of the bundle)")] = None,
    speed: Annotated[
        float, typer.Option(help="Trading days per second of the accelerated clock; 0 = flat out")
    ] = 100.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Events deliberated at once")] = 4,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder for the run's records (default: data/runs/<time>)")
    ] = None,
    events_out: Annotated[Path | None, typer.Option(help="Also write the run's tape (ticks and signals) here")] = None,
    llm: Annotated[LLMMode, typer.Option(help="Providers for the roles (rules: the offline baseline)")] = LLMMode.RULES,
    cassettes: Annotated[Path | None, typer.Option(help="Cassette folder for --llm record / replay")] = None,
) -> None:
    """Replay bundled real daily bars as a live feed through the deliberation graph, then print a summary."""
    console = Console()
    run_dir = data_dir or Path("data") / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    try:
        settings = with_llm_mode(Settings(data_dir=run_dir), llm, cassettes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    options = ReplayOptions(
        symbols=tuple(s.strip().upper() for s in symbols.split(",")) if symbols else None,
        start=_day(start),
        end=_day(end),
        days_per_second=speed,
        concurrency=concurrency,
        events_out=events_out,
    )
    console.print(
        f"[bold]AEGIS[/] replay of bundled real daily data; roles: {provider_label(settings)}; records: {run_dir}"
    )
    with LiveView(console) as view:
        summary = asyncio.run(run_replay(settings, options, on_day=view.update))
    for line in summary.lines():
        console.print(line, highlight=False)
