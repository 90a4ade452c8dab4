"""Tick-only tapes of any length, made from the real bundled daily bars, for the tick benchmarks.

The bundled bars (twelve stocks, 2012-09-04 .. 2017-09-01, with the VIX) are one pass: each trading day
every symbol's bar as a MARKET_TICK, then the day's VIX close when it was closed that day, the order
`aegis run --events-out` writes. A longer tape repeats the pass with its dates shifted by whole weeks
(`PASS_SHIFT`: the first repeat starts on the Tuesday after the last bundled Friday), so each symbol's bars
stay strictly increasing in time, weekdays stay weekdays, no gap exceeds a replay's `max_gap_s`, and every
price is a real one (the same bars, on other dates). Ids carry the shifted date, so they stay unique.

The tape is written line by line to a file (`write_tick_tape`) and never held in memory.

The minute tape (`minute_lines`, `write_minute_tape`) is the bundled one-minute SPY bars (four sessions,
2020-12-15 .. 12-18, 391 bars each, times in New York), repeated the same way a week at a time: one symbol, so
every tick is a new moment of the feed's clock (what a day's bookkeeping costs a daily tape, each moment's
costs a minute tape).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from state.events import Bar
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import DailyPanel, bar_time, load_bundled_daily
from tools.feeds.tape import tick_event, vix_event


def pass_shift(panel: DailyPanel) -> timedelta:
    """How far each repeat of the bundled days moves: the whole weeks that take its first day past its last."""
    span = (panel.dates[-1] - panel.dates[0]).days
    return timedelta(days=(span // 7 + 1) * 7)


def tick_lines(lines: int, panel: DailyPanel | None = None) -> Iterator[str]:
    """The first `lines` lines (JSON, no line break) of the endless tape of `panel` (default: the bundled
    bars), pass after pass."""
    panel = panel or load_bundled_daily()
    shift = pass_shift(panel)
    days = len(panel.dates)
    written = 0
    for repeat in itertools.count():
        for row in range(days):
            day: date = panel.dates[row] + shift * repeat
            for event in _day_events(panel, row, day):
                if written == lines:
                    return
                yield json.dumps(event, sort_keys=True, separators=(",", ":"))
                written += 1
        if repeat == 0 and written == 0:
            raise ValueError("the panel holds no bars")


def _day_events(panel: DailyPanel, row: int, day: date) -> Iterator[dict[str, Any]]:
    moved = bar_time(day)
    for column, symbol in enumerate(panel.symbols):
        bar = panel_bar(panel, row, column)
        if bar is not None:
            yield tick_event(symbol, bar.model_copy(update={"time": moved}))
    vix = float(panel.vix[row])
    if math.isfinite(vix) and panel.vix_day(row) == panel.dates[row]:
        yield vix_event(moved, vix)


def write_tick_tape(path: Path, lines: int, panel: DailyPanel | None = None) -> Path:
    """Write the first `lines` lines of the tape to `path`, streaming; returns `path`."""
    with path.open("w", encoding="utf-8") as out:
        for line in tick_lines(lines, panel):
            out.write(line)
            out.write("\n")
    return path


def pass_lines(panel: DailyPanel | None = None) -> int:
    """The lines of one pass over the bundled days (the 1x tape of the bundled bars)."""
    panel = panel or load_bundled_daily()
    count = 0
    for row in range(len(panel.dates)):
        count += sum(1 for _ in _day_events(panel, row, panel.dates[row]))
    return count


MINUTE_FILE = "spy_1m_2020_12_15_18.csv"  # aegis/data/market: Stock.Indicators' intraday quotes (SOURCES.md)
MINUTE_SYMBOL = "SPY"
_NEW_YORK = ZoneInfo("America/New_York")


def minute_bars() -> list[Bar]:
    """The bundled one-minute SPY bars, oldest first, times in UTC."""
    text = (resources.files("aegis") / "data" / "market" / MINUTE_FILE).read_text(encoding="utf-8")
    bars = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        local = datetime.strptime(row["date"], "%Y-%m-%d %H:%M").replace(tzinfo=_NEW_YORK)
        prices = {name: float(row[name]) for name in ("open", "high", "low", "close", "volume")}
        bars.append(Bar(time=local.astimezone(UTC), **prices))
    return bars


def minute_lines(lines: int) -> Iterator[str]:
    """The first `lines` lines of the endless minute tape: the bundled sessions, a week later each pass."""
    bars = minute_bars()
    written = 0
    for repeat in itertools.count():
        for bar in bars:
            if written == lines:
                return
            moved = bar.model_copy(update={"time": bar.time + timedelta(weeks=repeat)})
            event = tick_event(MINUTE_SYMBOL, moved)
            event["id"] = f"{MINUTE_SYMBOL}-{moved.time:%Y%m%dT%H%M}-bar"  # a bar a minute: the minute in the id
            yield json.dumps(event, sort_keys=True, separators=(",", ":"))
            written += 1


def write_minute_tape(path: Path, lines: int) -> Path:
    """Write the first `lines` lines of the minute tape to `path`, streaming; returns `path`."""
    with path.open("w", encoding="utf-8") as out:
        for line in minute_lines(lines):
            out.write(line)
            out.write("\n")
    return path
