"""`aegis feed <tape>`: play a tape into the shared market state and publish its events for the workers.

The tape plays as a supervised task beside a health monitor (`aegis.runtime.health_monitor`), which restarts it
where it stopped when its last tick is older than `health.feed_tick_max_age_s`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.pipeline import Pipeline
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.feeder import FeedStats, TapeFeeder
from aegis.runtime.health_monitor import HealthMonitor
from aegis.runtime.live_screen import LiveScreen
from aegis.runtime.supervised_task import SupervisedTask
from aegis.settings import Settings
from state.bus.base import EventBus
from state.clock import SimulatedClock


async def play_supervised(pipeline: Pipeline, bus: EventBus, feeder: TapeFeeder) -> FeedStats:
    """Play the tape under a health monitor's watch; returns when the tape is played (or raises its error)."""
    task = SupervisedTask("tape", feeder.play)
    monitor = HealthMonitor(pipeline, pipeline.settings.health, bus=bus, feeds=[task])
    stop = asyncio.Event()
    task.start()
    watching = asyncio.create_task(monitor.run(stop))
    try:
        await task.wait()
    finally:
        stop.set()
        await task.stop()
        await watching
    return feeder.stats


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


def feed(
    tape: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON-lines tape")],
    screen: Annotated[
        bool,
        typer.Option(
            "--screen", help="Screen each tick for signals (for a tape of ticks only: a recorded tape has its own)"
        ),
    ] = False,
) -> None:
    """Feed a tape: ticks update Redis/PostgreSQL and the broker; other events go on the bus."""
    settings = Settings()
    if not settings.redis_url:
        raise typer.BadParameter("feeding workers needs AEGIS_REDIS_URL (the bus they share)")
    asyncio.run(_feed(settings, tape.read_text(encoding="utf-8").splitlines(), screen))
