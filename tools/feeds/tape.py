"""Market data as events on a tape: JSON lines of MARKET_TICK (one bar of one symbol; the VIX as the
symbol "VIX") and whatever other events the run produced, in time order. Replaying a tape rebuilds the
market state the sessions saw, so a run can be repeated exactly (`aegis replay`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from state.events import Bar, EventType

TAPE_SOURCE = "tape:bundled-daily"
VIX_SYMBOL = "VIX"


def tick_event(symbol: str, bar: Bar, source: str = TAPE_SOURCE) -> dict[str, Any]:
    """One bar as a MARKET_TICK; `source` names the data it came from (`Dataset.source`, e.g. "data:sp20")."""
    return {
        "id": f"{symbol}-{bar.time.date().isoformat()}-bar",
        "type": EventType.MARKET_TICK.value,
        "source": source,
        "symbols": [symbol],
        "event_time": bar.time.isoformat(),
        "payload": {"bar": bar.model_dump(mode="json")},
    }


def vix_event(at: datetime, level: float, source: str = TAPE_SOURCE) -> dict[str, Any]:
    """The VIX close as a tick; `source` names the data it came from: the bundled series, or a dataset's own
    VIX (`aegis data import --vix`), which its stocks' ticks name too."""
    bar = Bar(time=at, open=level, high=level, low=level, close=level, volume=0.0)
    return tick_event(VIX_SYMBOL, bar, source)


class EventTape:
    """Writes events as JSON lines, flushed per write (a crash keeps what was written)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write(self, event: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")
        self._file.flush()

    def write_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.write(event)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
