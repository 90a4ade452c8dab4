"""The one protocol every live feed speaks: an async source of signals that the feed runner plays.

A `LiveSource` yields, in order, what it has for the system:
- `FeedEvent`: one of the project's events as a JSON mapping (MARKET_TICK, ECONOMIC_RELEASE, NEWS), its
  `source` the adapter's name, validated with `state.events.parse_event` before it is yielded;
- `Connection`: what happened to the connection (`connected`, `heartbeat`, `disconnected`, `reconnecting`,
  `gave_up`); the runner turns data heartbeats into the failure tiers' feed heartbeats and `gave_up` into a
  SYSTEM_HEALTH down event and an alert;
- `DeadLetter`: a message that could not be read (garbled JSON, a bar that does not validate), with the reason:
  recorded through the same rejection path as an unreadable tape line, never raised.

A source never raises for what it receives; it may raise `FeedError` subclasses for what it cannot start with
(a calendar file that does not parse). It keeps its state (last bar per symbol, seen news ids, the reconnect
count) on the object, so that a restart of the runner's supervised task resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from state.events import EventRejectedError, parse_event

Sleep = Callable[[float], Awaitable[None]]
ConnectionState = Literal["connected", "heartbeat", "disconnected", "reconnecting", "gave_up"]
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")


class FeedError(ValueError):
    """A live feed cannot start: its input (a file, a URL, a mapping) is unusable. The message is one line."""


@dataclass(frozen=True)
class FeedEvent:
    event: dict[str, Any]


@dataclass(frozen=True)
class Connection:
    state: ConnectionState
    detail: str = ""
    attempt: int = 0  # the reconnect attempt (reconnecting, gave_up)


@dataclass(frozen=True)
class DeadLetter:
    raw: str
    reason: str


Signal = FeedEvent | Connection | DeadLetter


class LiveSource(Protocol):
    name: str

    def signals(self) -> AsyncIterator[Signal]: ...


@dataclass
class SourceStats:
    events: int = 0
    dead_letters: int = 0
    reconnects: int = 0
    gaps: list[str] = field(default_factory=list)


def event_id(*parts: str) -> str:
    """A deterministic event id from its parts (a redelivered item gets the same id: the idempotency key)."""
    text = "-".join(parts)
    return _ID_UNSAFE.sub("_", text)[:128]


def compact_time(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%z").replace("+0000", "Z")


def checked(raw: dict[str, Any]) -> FeedEvent | DeadLetter:
    """The event validated as the system will validate it; a refusal is a dead letter naming the fields."""
    try:
        parse_event(raw)
    except EventRejectedError as exc:
        return DeadLetter(raw=str(raw)[:500], reason=str(exc))
    return FeedEvent(raw)
