"""`aegis run`: the autonomous main job on the bundled real data (embedded defaults, no key, no server).

Its records go to `--data-dir`, else `<data_dir setting>/runs/<time>` (`AEGIS_DATA_DIR`, default `data`). A
rerun into a folder that holds a run resumes it (`aegis.runtime.run_record` refuses another one). The first
^C (or SIGTERM) stops after the day in progress: where the run stopped, the command that resumes it and the
summary so far, exit 130 (143 on SIGTERM); a second one aborts at once.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.llm_mode import LLMMode, provider_label, with_llm_mode
from aegis.runtime.live_view import LiveView
from aegis.runtime.logs import log_to_file
from aegis.runtime.market_data import (
    DataChoiceError,
    choose_dataset,
    data_label,
    fields_note,
    pick_symbols,
    window_panel,
)
from aegis.runtime.replay_job import WARMUP_DAYS, DayProgress, ReplayOptions, RunStart, run_replay
from aegis.runtime.run_record import RunRecord, claim_folder
from aegis.runtime.summary import RunSummary
from aegis.services import RECORDS_FILE
from aegis.settings import Settings
from state.bots import Bot
from tools.feeds.datasets import Dataset

_EXIT_ON = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal, as a shell reports it


def _day(value: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _symbols(dataset: Dataset, value: str | None) -> tuple[str, ...] | None:
    """The asked symbols (upper case, each once), all of them in the data; None: all of them."""
    if not value:
        return None
    try:
        return pick_symbols(dataset, value.split(","))
    except DataChoiceError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--symbols'") from None


def _window(
    dataset: Dataset, symbols: tuple[str, ...] | None, start: str | None, end: str | None
) -> tuple[date | None, date | None]:
    """`start`..`end` as dates, checked against the data: in order, with enough trading days to run."""
    first, last = _day(start, "'--start'"), _day(end, "'--end'")
    hint = " / ".join(name for name, given in (("'--start'", start), ("'--end'", end)) if given) or None
    try:
        window_panel(
            dataset, symbols, first, last, needs_days=WARMUP_DAYS, needs_why="a run ... (they warm up the indicators)"
        )
    except DataChoiceError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    return first, last


def run(
    data: Annotated[
        str | None, typer.Option(help="An imported dataset (`aegis data import`) to run on (default: the bundled data)")
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: all of the data's)")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default: start of the bundle)")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: end of the bundle)")] = None,
    speed: Annotated[
        float, typer.Option(help="Trading days per second of the accelerated clock; 0 = flat out")
    ] = 100.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Events deliberated at once")] = 4,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the run's records; a folder holding a run resumes it "
            "(default: runs/<time> in AEGIS_DATA_DIR, else in data)"
        ),
    ] = None,
    events_out: Annotated[Path | None, typer.Option(help="Also write the run's tape (ticks and signals) here")] = None,
    llm: Annotated[LLMMode, typer.Option(help="Providers for the roles (rules: the offline baseline)")] = LLMMode.RULES,
    cassettes: Annotated[Path | None, typer.Option(help="Cassette folder for --llm record / replay")] = None,
) -> None:
    """Replay real daily bars (bundled, or --data) as a live feed through the deliberation graph, then print a summary.

    ^C stops after the current day and prints how to resume; rerun into the same --data-dir to resume."""
    console = Console(soft_wrap=True)
    try:
        configured = Settings()
        run_dir = data_dir or configured.data_dir / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        settings = with_llm_mode(configured.model_copy(update={"data_dir": run_dir}), llm, cassettes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        dataset = choose_dataset(configured.data_dir, data)
    except ValueError as exc:  # no such dataset (it names those that exist), or its files are unreadable
        raise typer.BadParameter(str(exc), param_hint="'--data'") from None
    asked_symbols = _symbols(dataset, symbols)
    first, last = _window(dataset, asked_symbols, start, end)
    options = ReplayOptions(
        dataset=dataset,
        symbols=asked_symbols,
        start=first,
        end=last,
        days_per_second=speed,
        concurrency=concurrency,
        events_out=events_out,
    )
    command = _command(run_dir, options, data, llm, cassettes)
    panel = window_panel(dataset, options.symbols, first, last, needs_days=WARMUP_DAYS, needs_why="a run ...")
    asked = RunRecord.of(panel.symbols, panel.dates, options.screen, settings, command)
    resumed = claim_folder(run_dir, asked, RECORDS_FILE)
    heading = (
        f"[bold]AEGIS[/] replay of {data_label(dataset)}; {fields_note(dataset)}; roles: {provider_label(settings)}; "
        f"records: {run_dir}"
    )
    if resumed is None:
        console.print(heading)
    else:
        command = resumed.command  # the run's own command resumes it (this one may differ in speed, say)

    def started(start: RunStart) -> None:
        if resumed is not None:
            where = f"continuing from {start.next_day}" if start.next_day else "every day is decided already"
            console.print(
                f"resuming the run in {run_dir}: {start.days_decided} of {start.days} days decided; {where}",
                highlight=False,
            )
            console.print(heading)

    log_to_file(run_dir / "aegis.log")  # the terminal shows the live view; alerts appear in it
    interrupts = _Interrupts(console)
    with LiveView(console) as view:
        try:
            summary = asyncio.run(
                interrupts.guard(
                    lambda stop: run_replay(
                        settings,
                        options,
                        on_day=interrupts.watching(view.update),
                        on_alert=view.alert,
                        on_start=started,
                        stop=stop,
                        on_bots=lambda bots, how: _show_bots(console, bots, how),
                    )
                )
            )
        except asyncio.CancelledError:
            summary = None
    if summary is None:  # a second ^C: nothing more is read or printed
        console.print(f"aborted {interrupts.aborted_in()}; resume with: {command}", highlight=False)
        raise typer.Exit(interrupts.exit_code)
    if not summary.complete:
        console.print(_stopped_at(summary), highlight=False)
        console.print(f"resume with: {command}", highlight=False)
    for line in summary.lines():
        console.print(line, highlight=False)
    if not summary.complete:
        raise typer.Exit(interrupts.exit_code)


def _show_bots(console: Console, bots: list[Bot], how: str) -> None:
    shares = ", ".join(f"{bot.bot_id} {bot.allocation:.1%}" for bot in bots)
    console.print(f"bots: {shares} ({how})", highlight=False)


def _stopped_at(summary: RunSummary) -> str:
    if summary.last_decided is None:
        return f"stopped before its first day (0 of {summary.trading_days} decided)"
    return f"stopped after {summary.last_decided} (day {summary.days_decided} of {summary.trading_days})"


def _command(run_dir: Path, options: ReplayOptions, data: str | None, llm: LLMMode, cassettes: Path | None) -> str:
    """The command line that runs (and resumes) this run: its options as given, its folder spelled out."""
    args = ["aegis", "run", "--data-dir", str(run_dir)]
    if data:
        args += ["--data", data]
    if options.symbols:
        args += ["--symbols", ",".join(options.symbols)]
    if options.start:
        args += ["--start", options.start.isoformat()]
    if options.end:
        args += ["--end", options.end.isoformat()]
    if options.days_per_second != 100.0:
        args += ["--speed", f"{options.days_per_second:g}"]
    if options.concurrency != 4:
        args += ["--concurrency", str(options.concurrency)]
    if options.events_out:
        args += ["--events-out", str(options.events_out)]
    if llm is not LLMMode.RULES:
        args += ["--llm", llm.value]
    if cassettes:
        args += ["--cassettes", str(cassettes)]
    return shlex.join(args)


@dataclass
class _Interrupts:
    """^C and SIGTERM during a run: the first asks the job to stop after the day in progress, the second
    cancels it at once (a third, should cancelling hang, ends the process as the signal does by default)."""

    console: Console
    received: signal.Signals | None = None
    last_day: DayProgress | None = None

    @property
    def exit_code(self) -> int:
        return _EXIT_ON.get(self.received or signal.SIGINT, 130)

    def watching(self, on_day: Callable[[DayProgress], None]) -> Callable[[DayProgress], None]:
        def seen(progress: DayProgress) -> None:
            self.last_day = progress
            on_day(progress)

        return seen

    def aborted_in(self) -> str:
        """Where an aborted run was: the day after the last one it finished."""
        if self.last_day is None:
            return "before its first day"
        day = self.last_day
        return f"during the day after {day.day} (day {day.index + 1} of {day.days} done)"

    async def guard(self, job: Callable[[asyncio.Event], Awaitable[RunSummary]]) -> RunSummary:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        stop = asyncio.Event()

        def on_signal(received: signal.Signals) -> None:
            if self.received is None:
                self.received = received
                stop.set()
                self.console.print(
                    f"{received.name}: stopping after the current day (again to abort at once)", highlight=False
                )
                return
            for signum in _EXIT_ON:  # from now on, the default: the process ends
                loop.remove_signal_handler(signum)
                signal.signal(signum, signal.SIG_DFL)
            if main is not None:
                main.cancel()

        try:
            for signum in _EXIT_ON:
                loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # no signals here (not the main thread, Windows)
            return await job(stop)
        try:
            return await job(stop)
        finally:
            for signum in _EXIT_ON:
                loop.remove_signal_handler(signum)
