"""The economic calendar feed on a simulated clock: releases at their times, actuals when they arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from state.clock import SimulatedClock
from state.events import EconomicReleaseEvent, parse_event
from tools.feeds.config import FeedsConfig
from tools.feeds.economic_calendar import EconomicCalendarSource, Release, load_calendar
from tools.feeds.live import DeadLetter, FeedError, FeedEvent, Signal

T0 = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)
CONFIG = FeedsConfig(calendar_figures_poll_s=5.0, calendar_figures_wait_s=60.0)


class ClockSleep:
    """Sleeping moves the simulated clock; `at` runs a callback once the clock passes a moment."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.slept: list[float] = []
        self.hooks: list[tuple[datetime, Path, str]] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
        for moment, path, text in list(self.hooks):
            if self.clock.now() >= moment:
                with path.open("a", encoding="utf-8") as out:
                    out.write(text)
                self.hooks.remove((moment, path, text))


async def test_releases_come_at_their_time_with_the_actual_once_it_is_published(tmp_path: Path) -> None:
    calendar = tmp_path / "week.csv"
    calendar.write_text(
        "time,indicator,actual,forecast,previous\n"
        "2026-12-10T08:30:00-05:00,CPI,,3.1,3.0\n"  # 13:30 UTC; its actual arrives 20 s late
        "2026-12-10T12:59:30+00:00,PPI,0.2,0.3,0.1\n"  # before the start, within the wait: announced at once
        "2026-12-10T11:00:00+00:00,GDP,2.0,,\n"  # long before the start: skipped
        "2026-12-10T14:00:00+00:00,NFP,,180,150\n",  # never gets an actual: a dead letter
        encoding="utf-8",
    )
    figures = tmp_path / "figures.csv"
    figures.write_text("time,indicator,actual\n", encoding="utf-8")
    clock = SimulatedClock(T0)
    sleep = ClockSleep(clock)
    sleep.hooks.append((T0 + timedelta(minutes=30, seconds=20), figures, "2026-12-10T13:30:00Z,CPI,3.4\n"))
    source = EconomicCalendarSource(calendar, CONFIG, clock, figures=figures, sleep=sleep)
    seen: list[Signal] = [signal async for signal in source.signals()]

    events = [s.event for s in seen if isinstance(s, FeedEvent)]
    assert [(e["payload"]["indicator"], e["event_time"]) for e in events] == [
        ("PPI", "2026-12-10T12:59:30+00:00"), ("CPI", "2026-12-10T13:30:00+00:00")
    ]  # fmt: skip
    cpi = parse_event(events[1])
    assert isinstance(cpi, EconomicReleaseEvent) and cpi.source == "calendar"
    assert (cpi.payload.actual, cpi.payload.forecast, cpi.payload.previous) == (3.4, 3.1, 3.0)
    assert cpi.id == "calendar-CPI-20261210T133000Z"
    assert cpi.received_time is not None and cpi.received_time >= T0 + timedelta(minutes=30, seconds=20)
    [missed] = [s for s in seen if isinstance(s, DeadLetter)]
    assert missed.raw.startswith("NFP at 2026-12-10T14:00") and "no actual figure within 60 s" in missed.reason
    assert clock.now() >= T0 + timedelta(hours=1, seconds=60)
    # a restart announces nothing twice
    again = [s async for s in source.signals() if isinstance(s, FeedEvent | DeadLetter)]
    assert again == []


def test_an_icalendar_file_with_zones_folded_lines_and_figures(tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:CPI\r\n"
        "DTSTART;TZID=America/New_York:20261210T083000\r\nDESCRIPTION:forecast: 3.1\\nprevious: 3.0\\nact\r\n"
        " ual: 3.4\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:FOMC\r\nDTSTART:20261216T190000Z\r\nX-FORECAST:4.25\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        encoding="utf-8",
    )
    assert load_calendar(path) == [
        Release("CPI", datetime(2026, 12, 10, 13, 30, tzinfo=UTC), actual=3.4, forecast=3.1, previous=3.0),
        Release("FOMC", datetime(2026, 12, 16, 19, 0, tzinfo=UTC), forecast=4.25),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "when,what\n", "calendar a.csv: needs the columns time and indicator (has: what, when)"),
        ("b.csv", "time,indicator\n2026-12-10T13:30,CPI\n", "b.csv line 2: time '2026-12-10T13:30' has no time zone"),
        ("c.csv", "time,indicator,actual\n2026-12-10T13:30Z,CPI,high\n", "c.csv line 2 actual: 'high' is not a number"),
        ("d.ics", "BEGIN:VEVENT\nSUMMARY:CPI\nDTSTART:20261210T083000\nEND:VEVENT\n", "has no time zone"),
        ("e.txt", "", "calendar e.txt: unknown kind .txt; use .csv or .ics"),
    ],
)  # fmt: skip
def test_a_bad_calendar_is_one_line_naming_the_place(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FeedError) as raised:
        load_calendar(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
