"""The economic calendar feed: each scheduled release becomes an ECONOMIC_RELEASE event at its time on the
feed's clock, once its actual figure is known.

Calendar files (the kind is the suffix):
- CSV with a header: `time,indicator[,actual][,forecast][,previous]`; `time` ISO 8601 with its zone
  (`2026-12-10T13:30:00+00:00`), `indicator` as the release settings name it (CPI, NFP, ...). Empty cells are
  unknown figures. Several rows for one (indicator, time) merge, the later row's figures winning: the schedule
  can be written ahead and a row with the actual appended when it is published.
- iCalendar (.ics): each VEVENT is a release: SUMMARY the indicator, DTSTART its time (UTC `...Z`, or a `TZID`
  parameter; a floating time is refused), the figures as `X-ACTUAL` / `X-FORECAST` / `X-PREVIOUS` properties or
  as `actual: 3.2` lines in DESCRIPTION.
A separate figures file (CSV, the same columns) may carry the actuals instead.

The event needs the actual figure (`EconomicReleasePayload.actual`), so at a release's time the files are read
again every `calendar_figures_poll_s` until its actual is there; after `calendar_figures_wait_s` without one the
release is a dead letter (missed, with the reason), never a made-up figure. Releases scheduled more than that
wait before the feed starts are skipped (logged). The event's time is the scheduled time; its id
`calendar-<indicator>-<time>`, so a restart does not announce a release twice.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from state.clock import Clock
from tools.feeds.config import FeedsConfig
from tools.feeds.live import Connection, DeadLetter, FeedError, Signal, Sleep, checked, compact_time, event_id

log = logging.getLogger(__name__)
FIGURES = ("actual", "forecast", "previous")


@dataclass(frozen=True)
class Release:
    indicator: str
    at: datetime
    actual: float | None = None
    forecast: float | None = None
    previous: float | None = None

    @property
    def key(self) -> tuple[str, datetime]:
        return self.indicator, self.at


def load_calendar(path: Path) -> list[Release]:
    """The releases of a .csv or .ics calendar, merged by (indicator, time), in time order. `FeedError` (one line)
    for a file that cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"calendar {path.name}: cannot read: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_releases(text, path.name)
    elif suffix in (".ics", ".ical"):
        rows = _ics_releases(text, path.name)
    else:
        raise FeedError(f"calendar {path.name}: unknown kind {suffix or '(no suffix)'}; use .csv or .ics")
    return merge(rows)


def merge(rows: Iterable[Release]) -> list[Release]:
    merged: dict[tuple[str, datetime], Release] = {}
    for row in rows:
        known = merged.get(row.key)
        if known is None:
            merged[row.key] = row
            continue
        merged[row.key] = replace(known, **{f: getattr(row, f) for f in FIGURES if getattr(row, f) is not None})
    return sorted(merged.values(), key=lambda r: (r.at, r.indicator))


def _number(text: str | None, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text.strip().rstrip("%").replace(",", ""))
    except ValueError:
        raise FeedError(f"{where}: {text.strip()!r} is not a number") from None


def _aware(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FeedError(f"{where}: time {text.strip()!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise FeedError(f"{where}: time {text.strip()!r} has no time zone (add +00:00 or Z)")
    return moment.astimezone(UTC)


def _csv_releases(text: str, name: str) -> list[Release]:
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    if not {"time", "indicator"} <= columns:
        raise FeedError(f"calendar {name}: needs the columns time and indicator (has: {', '.join(sorted(columns))})")
    releases = []
    for line, row in enumerate(reader, start=2):
        where = f"calendar {name} line {line}"
        indicator = (row.get("indicator") or "").strip()
        if not indicator:
            raise FeedError(f"{where}: no indicator")
        figures = {f: _number(row.get(f), f"{where} {f}") for f in FIGURES}
        releases.append(Release(indicator, _aware(row.get("time") or "", where), **figures))
    return releases


_ICS_FIGURE = re.compile(r"^\s*(actual|forecast|previous)\s*[:=]\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def _ics_lines(text: str) -> list[str]:
    """Unfolded content lines (RFC 5545 3.1: a line starting with a space or tab continues the previous one)."""
    lines: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw)
    return lines


def _ics_time(params: dict[str, str], value: str, where: str) -> datetime:
    if params.get("VALUE") == "DATE" or len(value) == 8:
        raise FeedError(f"{where}: DTSTART {value} is a whole day; a release needs its time")
    try:
        moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise FeedError(f"{where}: DTSTART {value!r} is not an iCalendar date-time") from None
    if value.endswith("Z"):
        return moment.replace(tzinfo=UTC)
    zone = params.get("TZID")
    if zone is None:
        raise FeedError(f"{where}: DTSTART {value} has no time zone (use ...Z or TZID=)")
    try:
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError):
        raise FeedError(f"{where}: unknown TZID {zone!r}") from None


def _ics_releases(text: str, name: str) -> list[Release]:
    releases: list[Release] = []
    event: dict[str, tuple[dict[str, str], str]] | None = None
    for number, line in enumerate(_ics_lines(text), start=1):
        head, _, value = line.partition(":")
        prop, *raw_params = head.split(";")
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        prop = prop.upper()
        if prop == "BEGIN" and value.upper() == "VEVENT":
            event = {}
        elif prop == "END" and value.upper() == "VEVENT" and event is not None:
            releases.append(_ics_release(event, f"calendar {name} event ending line {number}"))
            event = None
        elif event is not None:
            event[prop] = (params, value)
    return releases


def _ics_release(event: dict[str, tuple[dict[str, str], str]], where: str) -> Release:
    if "SUMMARY" not in event or "DTSTART" not in event:
        raise FeedError(f"{where}: needs SUMMARY (the indicator) and DTSTART")
    params, start = event["DTSTART"]
    description = event.get("DESCRIPTION", ({}, ""))[1].replace("\\n", "\n").replace("\\,", ",")
    figures = {m.group(1).lower(): m.group(2) for m in _ICS_FIGURE.finditer(description)}
    for figure in FIGURES:
        if f"X-{figure.upper()}" in event:
            figures[figure] = event[f"X-{figure.upper()}"][1]
    numbers = {f: _number(figures.get(f), f"{where} {f}") for f in FIGURES}
    return Release(event["SUMMARY"][1].strip(), _ics_time(params, start.strip(), where), **numbers)


@dataclass
class EconomicCalendarSource:
    calendar: Path
    config: FeedsConfig
    clock: Clock
    figures: Path | None = None
    name: str = "calendar"
    sleep: Sleep = asyncio.sleep
    market: bool = False
    announced: set[str] = field(default_factory=set)

    def releases(self) -> list[Release]:
        rows = load_calendar(self.calendar)
        if self.figures is not None:
            rows = merge([*rows, *load_calendar(self.figures)])
        return rows

    async def signals(self) -> AsyncIterator[Signal]:
        wait = timedelta(seconds=self.config.calendar_figures_wait_s)
        schedule = self.releases()  # a file that does not parse stops the start here, with its one line
        start = self.clock.now()
        late = [r for r in schedule if r.at + wait < start]
        if late:
            log.info("%s: %d releases before %s skipped (last: %s at %s)", self.name, len(late), start.isoformat(),
                     late[-1].indicator, late[-1].at.isoformat())  # fmt: skip
        pending = [r for r in schedule if r.at + wait >= start]
        log.info("%s: %d releases scheduled from %s", self.name, len(pending), self.calendar.name)
        for release in pending:
            ident = event_id(self.name, release.indicator, compact_time(release.at))
            if ident in self.announced:
                continue
            await self._until(release.at)
            ready = await self._figures(release, release.at + wait)
            if ready is None:
                reason = f"no actual figure within {wait.total_seconds():g} s of its time; not announced"
                log.warning("%s: %s at %s: %s", self.name, release.indicator, release.at.isoformat(), reason)
                yield DeadLetter(f"{release.indicator} at {release.at.isoformat()}", reason)
            else:
                log.info("%s: %s at %s: actual %g (forecast %s, previous %s)", self.name, ready.indicator,
                         ready.at.isoformat(), ready.actual, ready.forecast, ready.previous)  # fmt: skip
                yield checked({
                    "id": ident, "type": "ECONOMIC_RELEASE", "source": self.name, "priority": "high",
                    "event_time": ready.at.isoformat(), "received_time": self.clock.now().isoformat(),
                    "payload": {"indicator": ready.indicator, "actual": ready.actual, "forecast": ready.forecast,
                                "previous": ready.previous},
                })  # fmt: skip
            self.announced.add(ident)
            yield Connection("heartbeat", f"{release.indicator} done")

    async def _until(self, moment: datetime) -> None:
        while (left := (moment - self.clock.now()).total_seconds()) > 0:
            await self.sleep(min(left, max(self.config.calendar_figures_poll_s, 60.0)))

    async def _figures(self, release: Release, deadline: datetime) -> Release | None:
        while True:
            try:
                current = next((r for r in self.releases() if r.key == release.key), release)
            except FeedError as exc:  # being written at this moment: the last good reading stands
                log.warning("%s: %s", self.name, exc)
                current = release
            if current.actual is not None:
                return current
            if self.clock.now() >= deadline:
                return None
            await self.sleep(self.config.calendar_figures_poll_s)
