"""`aegis replay <tape>`: replay recorded events (a tape from `aegis run --events-out`) through the graph.

Every line of the tape ends somewhere: decided, applied (a tick), skipped (a blank line) or rejected with
its line number and the real error; the run goes on to the end and exits 0, printing what was rejected and
why, grouped. It exits 2 with one line only when nothing could be read: a missing or empty file, or one in
which no line is a valid event (a binary file, say): there is no clock to replay it on. `--decisions-out`
is written as the replay goes, a line per decision, flushed, so an interrupted replay leaves what it decided.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Self

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aegis.llm_mode import LLMMode, with_llm_mode
from aegis.pipeline import OnLine, Pipeline
from aegis.runtime.session import Delivery
from aegis.runtime.tape import LineOutcome, tape_start
from aegis.runtime.tape_bots import read_tape_bots
from aegis.settings import Settings
from state.clock import SimulatedClock
from state.decisions import DecisionRecord

PROGRESS_EVERY = 1000  # lines between progress lines when the output is not a terminal
REASONS_SHOWN = 20  # rejected lines whose reason the summary prints one by one


def decision_summary(decision: DecisionRecord) -> dict[str, object]:
    """The parts of a decision that a replay must reproduce exactly."""
    return {
        "event_id": decision.event_id,
        "outcome": str(decision.outcome),
        "reason": decision.reason,
        "analysis": decision.analysis,
        "verdict": decision.verdict,
        "command": decision.command,
        "guard_changes": [c.model_dump() for c in decision.guard_changes],
        "order": decision.order.request.model_dump(mode="json") if decision.order else None,
    }


async def replay_tape(settings: Settings, tape: Path, on_line: OnLine | None = None) -> list[DecisionRecord]:
    """Replay `tape` on a simulated clock that starts at the tape's first valid event (`tape_start`, which
    raises `UnreadableTapeError` when there is none), with the bots it was recorded with (`<tape>.bots.json`,
    registered on records that hold no bots when the tape reaches the time they were registered)."""
    clock = SimulatedClock(await asyncio.to_thread(tape_start, tape))
    bots = await read_tape_bots(tape)
    async with await Pipeline.open(settings, clock=clock) as pipeline:
        fresh = not await pipeline.bots.bots()
        return await pipeline.replay(tape, on_line=on_line, bots=bots if fresh else ())


@dataclass
class ReplayTally:
    """What the lines of a replay became, for the summary."""

    lines: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # of first deliveries: an event counts once
    ticks: int = 0
    redelivered: list[int] = field(default_factory=list)
    conflicts: list[LineOutcome] = field(default_factory=list)
    rejected: dict[str, list[int]] = field(default_factory=dict)  # group -> line numbers
    reasons: list[str] = field(default_factory=list)
    blank: list[int] = field(default_factory=list)
    byte_order_marks: list[int] = field(default_factory=list)
    cost_usd: float = 0.0

    def add(self, outcome: LineOutcome) -> None:
        self.lines = max(self.lines, outcome.line)
        if outcome.byte_order_mark:
            self.byte_order_marks.append(outcome.line)
        decision = outcome.decision
        if outcome.blank:
            self.blank.append(outcome.line)
        elif decision is None:
            self.ticks += 1
        elif outcome.delivery is Delivery.CONFLICT:
            self.conflicts.append(outcome)
        elif outcome.delivery is Delivery.REDELIVERED:
            self.redelivered.append(outcome.line)
        else:
            self.outcomes[str(decision.outcome)] += 1
            self.cost_usd += decision.llm_usage.cost_usd
        group = outcome.rejected
        if group is not None:
            self.rejected.setdefault(group, []).append(outcome.line)
            self.reasons.append(outcome.reason)

    def summary(self, tape: Path, llm: LLMMode, records: Path, decisions_out: Path | None) -> list[str]:
        decided = sum(self.outcomes.values())
        out = [
            f"replayed {tape} with --llm {llm}: {_n(self.lines, 'line')}, {_n(decided, 'event')} decided "
            f"{dict(sorted(self.outcomes.items()))}, {_n(self.ticks, 'tick')} applied",
            f"  redelivered: {len(self.redelivered)}{_where(self.redelivered)}: same id and content, the first "
            "decision returned",
            f"  conflicts: {len(self.conflicts)}{_where([c.line for c in self.conflicts])}: same id, other content, "
            "rejected (the first decision stands; kept in the store's event conflicts)",
        ]
        out += [f"    {c.reason}" for c in self.conflicts[:REASONS_SHOWN]]
        count = sum(len(lines) for lines in self.rejected.values())
        out.append(f"  rejected lines: {count}" + (" (recorded as dead letters), by reason:" if count else ""))
        for group, lines in sorted(self.rejected.items(), key=lambda item: (-len(item[1]), item[1][0])):
            out.append(f"    {len(lines):>4}  {group}{_where(lines)}")
        out += [f"    {reason}" for reason in self.reasons[:REASONS_SHOWN]]
        if len(self.reasons) > REASONS_SHOWN:
            out.append(f"    ... and {len(self.reasons) - REASONS_SHOWN} more")
        if self.blank:
            out.append(f"  blank lines skipped: {len(self.blank)}{_where(self.blank)}")
        if self.byte_order_marks:
            out.append(f"  UTF-8 byte-order marks dropped{_where(self.byte_order_marks)}")
        out.append(f"LLM cost ${self.cost_usd:.4f}; records in {records}")
        if decisions_out is not None:
            out.append(f"decisions in {decisions_out}")
        return out


def _n(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def _where(lines: list[int], most: int = 8) -> str:
    if not lines:
        return ""
    shown = ", ".join(str(n) for n in lines[:most]) + (", ..." if len(lines) > most else "")
    return f" (line{'s' if len(lines) > 1 else ''} {shown})"


class DecisionsFile:
    """`--decisions-out`: one JSON line per decision, flushed as written. Created at the first decision (or
    empty at the end of a replay that decided nothing), so a tape that cannot be read leaves no file."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def write(self, decision: DecisionRecord) -> None:
        file = self._open()
        if file is not None:
            file.write(json.dumps(decision_summary(decision), sort_keys=True) + "\n")
            file.flush()

    def _open(self) -> IO[str] | None:
        if self._file is None and self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("w", encoding="utf-8")
        return self._file

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        file = self._open() if kind is None else self._file
        if file is not None:
            file.close()


class ReplayProgress:
    """A progress bar on a terminal; elsewhere (CI, pipes) a line every `every` lines."""

    def __init__(self, console: Console, total: int, every: int = PROGRESS_EVERY) -> None:
        self._console, self._total, self._every = console, total, every
        columns = (TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._bar = Progress(*columns, console=console, transient=True) if console.is_terminal else None
        self._task = self._bar.add_task("lines", total=total) if self._bar is not None else None
        self._next = every

    def update(self, line: int, tally: ReplayTally) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=line)
        elif line >= self._next:
            self._next = (line // self._every + 1) * self._every
            decided = sum(tally.outcomes.values())
            rejected = sum(len(lines) for lines in tally.rejected.values())
            progress = f"line {line}/{self._total}: {decided} decided, {rejected} rejected"
            self._console.print(progress, highlight=False, soft_wrap=True)

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()


def count_lines(tape: Path) -> int:
    """Lines of the tape (the last one counted without its line break too)."""
    count, last = 0, b"\n"
    with tape.open("rb") as data:
        while chunk := data.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _listener(tally: ReplayTally, out: DecisionsFile, progress: ReplayProgress) -> Callable[[LineOutcome], None]:
    def on_line(outcome: LineOutcome) -> None:
        tally.add(outcome)
        if outcome.decision is not None:
            out.write(outcome.decision)
        progress.update(outcome.line, tally)

    return on_line


def replay(
    tape: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON-lines tape of events")],
    llm: Annotated[LLMMode, typer.Option(help="Providers for the roles")] = LLMMode.RULES,
    cassettes: Annotated[Path | None, typer.Option(help="Cassette folder (record / replay)")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for this replay's records (default: replays/<time> in AEGIS_DATA_DIR, else in data)"),
    ] = None,
    decisions_out: Annotated[Path | None, typer.Option(help="Write one JSON line per decision here")] = None,
) -> None:
    """Replay a tape: ticks rebuild the market state, every other event is deliberated. Lines that cannot
    be read or are out of the tape's time are rejected and recorded; the replay goes on."""
    try:
        configured = Settings()
        data_dir = data_dir or configured.data_dir / "replays" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        settings = with_llm_mode(configured.model_copy(update={"data_dir": data_dir}), llm, cassettes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console = Console()
    tally = ReplayTally()
    with DecisionsFile(decisions_out) as out, ReplayProgress(console, count_lines(tape)) as progress:
        asyncio.run(replay_tape(settings, tape, _listener(tally, out, progress)))
    for line in tally.summary(tape, llm, data_dir, decisions_out):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
