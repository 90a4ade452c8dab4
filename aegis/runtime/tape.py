"""Reading a tape (JSON lines of events) for a replay: each line on its own, judged against the tape's clock.

This module owns what a line of a tape becomes before the replay submits it (`Pipeline.replay`):
- a line is read as bytes and decoded on its own. A line that is not UTF-8, not JSON or not a JSON object is
  refused (`refused_input`): the graph records it as a rejected decision, a dead letter, whose reason names
  the line and the real error ("line 7: not valid UTF-8 at byte 12 (0xe9)", "line 3: JSON: Expecting ','
  delimiter: column 40"), and the replay goes on;
- a UTF-8 byte-order mark at the start of a line is dropped (editors on Windows write one) and a blank line
  is skipped (it holds nothing to record); both are reported in the line's outcome;
- the tape's clock (`TapeClock`): each event that validates moves it to its event_time, never back. An event
  later than the previous accepted one by more than `ReplayTimeConfig.max_gap_s`, or earlier by more than
  `back_tolerance_s`, is refused with the reason. An event that does not validate is passed on untouched
  (the graph records its field errors) and moves no clock.

It never prints and never reads the wall clock.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aegis.runtime.intake import SHOWN_CHARS, json_kind
from aegis.runtime.session import Delivery
from graphs.deliberation.nodes import raw_event_id, refused_input
from state.decisions import DecisionRecord, Outcome
from state.events import CLOCK_SKEW, Event, EventRejectedError, MarketTickEvent, parse_event

BYTE_ORDER_MARK = b"\xef\xbb\xbf"

# The groups a refused line is counted in (the reason itself names the line and the detail).
NOT_UTF8 = "not valid UTF-8"
NOT_JSON = "not JSON"
NOT_AN_OBJECT = "not a JSON object"
OUT_OF_ORDER = "out of time order"
TOO_FAR_AHEAD = "too far ahead in time"
TICK_NOT_AFTER = "tick not after its symbol's previous bar"


class ReplayTimeConfig(BaseModel):
    """What a historical tape must respect in time (`Settings.replay`)."""

    model_config = ConfigDict(extra="forbid")

    max_gap_s: float = Field(
        7 * 86_400.0,
        gt=0,
        description="An event later than the previous accepted one by more than this is refused (a typo'd date; "
        "a tape with a real longer gap needs a larger value). 7 days: longer than any market closure",
    )
    back_tolerance_s: float = Field(
        CLOCK_SKEW.total_seconds(),
        ge=0,
        description="An event earlier than the previous accepted one by more than this is refused as out of "
        "time order; within it, it is accepted and the clock stays. 5 s: the clock skew events are allowed",
    )
    ticks_per_commit: int = Field(
        1024,
        ge=1,
        description="Consecutive ticks whose writes the embedded (SQLite) store commits in one transaction, one "
        "fsync; a wave of other events always commits the ticks before it first. 1: every tick committed on its "
        "own (an fsync per tick, about 2 ms on a common disk). A crash loses at most the run in progress, whose "
        "effects (marks, day records) are all in it",
    )


class UnreadableTapeError(ValueError):
    """Nothing in a tape can be replayed: it is empty, or none of its lines is a valid event."""


@dataclass(frozen=True, slots=True)
class TapeLine:
    """One line of a tape, as the replay submits it."""

    number: int
    raw: dict[str, Any] | None  # the event as read, or the refused input; None: a blank line
    refused: str | None = None  # the group of the reason the front door refused it
    reason: str | None = None  # why it refused it: "line 7: not valid UTF-8 at byte 12 (0xe9)"
    event: Event | None = None  # the validated event (None: refused, or invalid: the graph records why)
    byte_order_mark: bool = False
    text: bytes | None = None  # the JSON `raw` was read from (validated as it is: `parse_event`)

    @property
    def where(self) -> str:
        return f"line {self.number}"

    def refuse(self, group: str, problem: str, received: Any) -> TapeLine:
        raw = refused_input(self.where, problem, received)
        return replace(self, raw=raw, refused=group, reason=f"{self.where}: {problem}", event=None, text=None)


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """What became of one line of a tape (`Pipeline.replay(on_line=...)`), reported in the tape's order
    (a blank line as soon as it is read)."""

    line: int
    decision: DecisionRecord | None = None  # None: a tick applied to the market state, or a blank line
    delivery: Delivery | None = None
    refused: str | None = None  # the group of the front door's refusal
    blank: bool = False
    byte_order_mark: bool = False

    @property
    def rejected(self) -> str | None:
        """Why the line was rejected, as a group to count, or None. A repeated id is counted by its
        `delivery` instead: a conflict apart, a redelivery (same content) as the first decision it got."""
        if self.delivery in (Delivery.REDELIVERED, Delivery.CONFLICT):
            return None
        if self.refused is not None:
            return self.refused
        decision = self.decision
        if decision is None or decision.outcome is not Outcome.REJECTED:
            return None
        first = decision.rejection[0] if decision.rejection else None
        return f"invalid event: {first.field}: {first.message}"[:120] if first else "invalid event"

    @property
    def reason(self) -> str:
        """The decision's reason, naming the line."""
        reason = self.decision.reason if self.decision is not None else ""
        where = f"line {self.line}"
        return reason if reason.startswith(f"{where}:") else f"{where}: {reason}"


def tape_line(number: int, data: bytes) -> TapeLine:
    """Decode one line (its bytes, the line break included or not)."""
    data = data.rstrip(b"\r\n")
    mark = data.startswith(BYTE_ORDER_MARK)
    if mark:
        data = data[len(BYTE_ORDER_MARK) :]
    line = TapeLine(number, None, byte_order_mark=mark)
    if not data.strip():
        return line
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + 1 + (len(BYTE_ORDER_MARK) if mark else 0)  # 1-based, in the line as written
        shown = data[:SHOWN_CHARS].decode("utf-8", "backslashreplace")
        return line.refuse(NOT_UTF8, f"not valid UTF-8 at byte {at} (0x{data[exc.start]:02x})", shown)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return line.refuse(NOT_JSON, f"JSON: {exc.msg}: column {exc.colno}", text[:SHOWN_CHARS])
    except RecursionError:
        return line.refuse(NOT_JSON, "JSON: nested too deeply", text[:SHOWN_CHARS])
    if not isinstance(value, dict):
        return line.refuse(NOT_AN_OBJECT, f"not a JSON object but {json_kind(value)}", text[:SHOWN_CHARS])
    return replace(line, raw=value, text=data)


def read_lines(chunks: Iterable[bytes]) -> Iterator[TapeLine]:
    """The lines of a tape read as bytes (an open binary file iterates them), numbered from 1."""
    for number, data in enumerate(chunks, start=1):
        yield tape_line(number, data)


def _span(seconds: float) -> str:
    for unit, size in (("days", 86_400.0), ("h", 3_600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{round(seconds, 3):g} s"


class TapeClock:
    """The tape's time: the latest event_time of the events accepted so far. It judges each next line."""

    def __init__(self, config: ReplayTimeConfig) -> None:
        self._config = config
        self.time: datetime | None = None
        self._set_by = 0  # the line that set it

    def admit(self, line: TapeLine) -> TapeLine:
        """`line` with its validated event, refused if that event is out of the tape's time, or unchanged
        (a blank, refused or invalid line)."""
        if line.raw is None or line.refused is not None:
            return line
        try:
            event = parse_event(line.raw, text=line.text)
        except EventRejectedError:
            return line
        moment = event.event_time
        if self.time is not None:
            ahead = (moment - self.time).total_seconds()
            previous = f"the previous accepted event's ({self.time.isoformat()}, line {self._set_by})"
            if ahead > self._config.max_gap_s:
                limit = _span(self._config.max_gap_s)
                problem = f"event_time {moment.isoformat()} is {_span(ahead)} after {previous}; more than {limit}"
                return line.refuse(TOO_FAR_AHEAD, f"{problem} (replay.max_gap_s)", line.raw)
            if -ahead > self._config.back_tolerance_s:
                tolerance = _span(self._config.back_tolerance_s)
                problem = f"event_time {moment.isoformat()} is {_span(-ahead)} before {previous}"
                return line.refuse(OUT_OF_ORDER, f"{problem}; a tape runs forward (tolerance {tolerance})", line.raw)
        if self.time is None or moment > self.time:
            self.time, self._set_by = moment, line.number
        return replace(line, event=event, text=None)


def tape_steps_of(lines: Iterable[TapeLine]) -> Iterator[TapeLine | list[TapeLine]]:
    """A tape as steps: a blank line or a valid tick alone, else waves. A wave is a run of consecutive
    events with the same `event_time` and distinct ids; a refused line, or a line without an `event_time`,
    is a wave of its own."""
    wave: list[TapeLine] = []
    for line in lines:
        if line.raw is None:  # blank: nothing to submit, it does not end a wave
            yield line
            continue
        if isinstance(line.event, MarketTickEvent):
            if wave:
                yield wave
                wave = []
            yield line
            continue
        if wave and not _joins(wave, line.raw):
            yield wave
            wave = []
        wave.append(line)
    if wave:
        yield wave


def _joins(wave: list[TapeLine], raw: dict[str, Any]) -> bool:
    moment = raw.get("event_time")
    first = wave[0].raw or {}
    same_instant = isinstance(moment, str) and moment == first.get("event_time")
    return same_instant and raw_event_id(raw) not in {raw_event_id(line.raw) for line in wave}


def tape_start(path: Path | str) -> datetime:
    """The event_time of the tape's first valid event: where a replay's simulated clock starts. Raises
    `UnreadableTapeError` when there is none (an empty tape, or no line is a valid event)."""
    groups: Counter[str] = Counter()
    first_problem = ""
    read = 0
    with Path(path).open("rb") as chunks:
        for line in read_lines(chunks):
            if line.raw is None:
                continue
            read += 1
            if line.refused is not None:
                groups[line.refused] += 1
                first_problem = first_problem or str(line.reason)
                continue
            try:
                return parse_event(line.raw).event_time
            except EventRejectedError as exc:
                groups["invalid event"] += 1
                first_problem = first_problem or f"{line.where}: {exc}"
    if not read:
        raise UnreadableTapeError(f"{path} is empty: nothing to replay")
    counts = ", ".join(f"{n} {group}" for group, n in groups.most_common())
    raise UnreadableTapeError(
        f"{path}: none of its {read} lines is a valid event ({counts}; {first_problem}): nothing to replay"
    )
