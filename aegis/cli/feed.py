"""`aegis feed <tape>`: play a tape into the shared market state and publish its events for the workers.

The tape plays as a supervised task beside a health monitor (`aegis.runtime.health_monitor`), which restarts it
where it stopped when its last tick is older than `health.feed_tick_max_age_s`.

`aegis feed --source websocket|calendar|news` plays a live source instead (`tools.feeds.live`), through the same
path (`aegis.runtime.live_feed`): the market websocket as a supervised task watched like the tape, with the
failure tiers' clock ticking beside it; the calendar and the news poller as plain tasks (their silence is normal).
Their settings: `Settings.feeds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.pipeline import Pipeline
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.feeder import FeedStats, TapeFeeder
from aegis.runtime.health_monitor import HealthMonitor
from aegis.runtime.live_feed import FeedGaveUpError, LiveFeedRunner
from aegis.runtime.live_screen import LiveScreen
from aegis.runtime.supervised_task import SupervisedTask
from aegis.settings import Settings
from state.bus.base import EventBus
from state.clock import Clock, SimulatedClock, WallClock
from state.hot import HotStore
from tools.feeds.economic_calendar import EconomicCalendarSource
from tools.feeds.live import FeedError, LiveSource
from tools.feeds.market_socket import MarketSocketSource, MessageMapping
from tools.feeds.news import NewsPollerSource


class Source(StrEnum):
    tape = "tape"
    websocket = "websocket"
    calendar = "calendar"
    news = "news"


async def play_supervised(pipeline: Pipeline, bus: EventBus, feeder: TapeFeeder) -> FeedStats:
    """Play the tape under a health monitor's watch; returns when the tape is played (or raises its error)."""
    await supervise(pipeline, bus, SupervisedTask("tape", feeder.play))
    return feeder.stats


async def supervise(pipeline: Pipeline, bus: EventBus, task: SupervisedTask, *, watched: bool = True,
                    tiers: bool = False) -> None:  # fmt: skip
    """Run `task` beside a health monitor (which restarts it when `watched` and its beats stop) and, with
    `tiers`, the failure tiers' clock (`RiskMonitor.run_ticks`: a live feed's silence is measured on it)."""
    monitor = HealthMonitor(pipeline, pipeline.settings.health, bus=bus, feeds=[task] if watched else [])
    stop = asyncio.Event()
    task.start()
    watching = asyncio.create_task(monitor.run(stop))
    ticking = asyncio.create_task(pipeline.monitor.run_ticks()) if tiers else None
    try:
        await task.wait()
    finally:
        stop.set()
        await task.stop()
        await watching
        if ticking is not None:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking


async def _feed(settings: Settings, lines: list[str], screen: bool) -> None:
    first = json.loads(lines[0]) if lines else {}
    clock = SimulatedClock(datetime.fromisoformat(first.get("event_time", "1970-01-01T00:00:00+00:00")))
    bus = open_bus(settings)
    try:
        async with await Pipeline.open(settings, clock=clock) as pipeline:
            feeder = TapeFeeder(pipeline, bus, lines, LiveScreen() if screen else None)
            stats = await play_supervised(pipeline, bus, feeder)
    finally:
        await bus.close()
    found = f" ({stats.signals} signals found by the screen)" if screen else ""
    Console().print(f"fed {stats.ticks} ticks; published {stats.published} events{found}")


def check_options(source: Source, options: LiveOptions) -> None:
    """`FeedError` (one line) when an option the source needs is missing."""
    if source is Source.websocket and (not options.url or not options.symbols):
        raise FeedError("--source websocket needs --url and --symbols")
    if source is Source.calendar and options.calendar is None:
        raise FeedError("--source calendar needs --calendar FILE (.csv or .ics)")
    if source is Source.news and not options.feed_urls:
        raise FeedError("--source news needs at least one --feed-url")


def live_source(settings: Settings, source: Source, options: LiveOptions, clock: Clock, hot: HotStore) -> LiveSource:
    """The adapter `--source` names, built from its options and `settings.feeds` (the news poller remembers what
    it has seen in `hot`)."""
    check_options(source, options)
    config = settings.feeds
    if source is Source.websocket:
        mapping = MessageMapping.from_file(options.mapping) if options.mapping else MessageMapping()
        return MarketSocketSource(options.url or "", options.symbols, config, clock, mapping=mapping)
    if source is Source.calendar:
        assert options.calendar is not None
        return EconomicCalendarSource(options.calendar, config, clock, figures=options.figures)
    return NewsPollerSource(options.feed_urls, config, clock, hot)


class LiveOptions:
    def __init__(self, url: str | None, symbols: list[str], mapping: Path | None, calendar: Path | None,
                 figures: Path | None, feed_urls: list[str]) -> None:  # fmt: skip
        self.url, self.symbols, self.mapping = url, symbols, mapping
        self.calendar, self.figures, self.feed_urls = calendar, figures, feed_urls


async def _feed_live(settings: Settings, kind: Source, options: LiveOptions) -> None:
    clock = WallClock()
    bus = open_bus(settings)
    try:
        async with await Pipeline.open(settings, clock=clock) as pipeline:
            source = live_source(settings, kind, options, clock, pipeline.services.hot)
            market = kind is Source.websocket
            runner = LiveFeedRunner(pipeline, TapeFeeder(pipeline, bus), source, market=market)
            try:
                await supervise(pipeline, bus, SupervisedTask(source.name, runner.play), watched=market, tiers=market)
            finally:
                stats = runner.stats
                typer.echo(f"{source.name}: {stats.events} events, {stats.dead_letters} dead letters, "
                           f"{stats.disconnects} disconnects")  # fmt: skip
    finally:
        await bus.close()


def feed(
    tape: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="JSON-lines tape (--source tape)")
    ] = None,
    source: Annotated[Source, typer.Option("--source", help="Where events come from")] = Source.tape,
    screen: Annotated[
        bool,
        typer.Option(
            "--screen", help="Screen each tick for signals (for a tape of ticks only: a recorded tape has its own)"
        ),
    ] = False,
    url: Annotated[str | None, typer.Option("--url", help="websocket: the stream's ws:// or wss:// URL")] = None,
    symbols: Annotated[
        list[str] | None, typer.Option("--symbols", help="websocket: symbols to subscribe to (repeat or comma-list)")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", exists=True, dir_okay=False, help="websocket: JSON message mapping of a provider"),
    ] = None,
    calendar: Annotated[
        Path | None, typer.Option("--calendar", exists=True, dir_okay=False, help="calendar: .csv or .ics file")
    ] = None,
    figures: Annotated[
        Path | None, typer.Option("--figures", dir_okay=False, help="calendar: CSV of actual figures, re-read")
    ] = None,
    feed_urls: Annotated[
        list[str] | None, typer.Option("--feed-url", help="news: an RSS or Atom feed URL (repeat)")
    ] = None,
) -> None:
    """Feed a tape (default) or a live source: ticks update Redis/PostgreSQL and the broker; other events go on
    the bus."""
    settings = Settings()
    if not settings.redis_url:
        raise typer.BadParameter("feeding workers needs AEGIS_REDIS_URL (the bus they share)")
    if source is Source.tape:
        if tape is None:
            raise typer.BadParameter("give a tape (or --source websocket|calendar|news)")
        asyncio.run(_feed(settings, tape.read_text(encoding="utf-8").splitlines(), screen))
        return
    if tape is not None:
        raise typer.BadParameter(f"a tape is played with --source tape, not --source {source.value}")
    names = [s.strip() for entry in symbols or () for s in entry.split(",") if s.strip()]
    options = LiveOptions(url, names, mapping, calendar, figures, list(feed_urls or ()))
    check_options(source, options)
    try:
        asyncio.run(_feed_live(settings, source, options))
    except FeedGaveUpError as exc:
        typer.echo(f"feed stopped: {exc}", err=True)  # one line, never wrapped
        raise typer.Exit(1) from None
