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
from aegis.runtime.logs import log_to_file
from aegis.runtime.replay_job import WARMUP_DAYS, ReplayOptions, run_replay
from aegis.settings import Settings
from tools.feeds.bundled import load_bundled_daily


def _day(value: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _symbols(value: str | None) -> tuple[str, ...] | None:
    """The asked symbols (upper case, each once), all of them in the bundle; None: all bundled."""
    if not value:
        return None
    asked = tuple(dict.fromkeys(s.strip().upper() for s in value.split(",") if s.strip()))
    bundled = load_bundled_daily().symbols
    unknown = [s for s in asked if s not in bundled]
    if unknown or not asked:
        what = f"unknown symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}" if unknown else "no symbol"
        raise typer.BadParameter(f"{what}; bundled symbols: {', '.join(bundled)}", param_hint="'--symbols'")
    return asked


def _window(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """`start`..`end` as dates, checked against the bundle: in order, with enough trading days to run."""
    first, last = _day(start, "'--start'"), _day(end, "'--end'")
    hint = " / ".join(name for name, given in (("'--start'", start), ("'--end'", end)) if given) or None
    if first is not None and last is not None and first > last:
        raise typer.BadParameter(f"--start {first} is after --end {last}", param_hint=hint)
    bundle = load_bundled_daily()
    covers = f"the bundle covers {bundle.dates[0]}..{bundle.dates[-1]}"
    days = len(bundle.window(first, last).dates)
    if days == 0:
        between = f"{first or bundle.dates[0]} and {last or bundle.dates[-1]}"
        raise typer.BadParameter(f"no trading days between {between}; {covers}", param_hint=hint)
    if days <= WARMUP_DAYS:
        raise typer.BadParameter(
            f"{days} trading days from {first or bundle.dates[0]} to {last or bundle.dates[-1]}; a run needs more "
            f"than {WARMUP_DAYS} (they warm up the indicators); {covers}",
            param_hint=hint,
        )
    return first, last


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
    first, last = _window(start, end)
    options = ReplayOptions(
        symbols=_symbols(symbols),
        start=first,
        end=last,
        days_per_second=speed,
        concurrency=concurrency,
        events_out=events_out,
    )
    console.print(
        f"[bold]AEGIS[/] replay of bundled real daily data; roles: {provider_label(settings)}; records: {run_dir}"
    )
    log_to_file(run_dir / "aegis.log")  # the terminal shows the live view; alerts appear in it
    with LiveView(console) as view:
        summary = asyncio.run(run_replay(settings, options, on_day=view.update, on_alert=view.alert))
    for line in summary.lines():
        console.print(line, highlight=False)
