"""Plays a live source (`tools.feeds.live.LiveSource`) through the tape's own path (`TapeFeeder.apply`).

Ticks update the market state and the broker, other events go on the bus for the workers, dead letters are
published like an unreadable tape line (the workers record each as rejected): one path for a tape and a live
feed. For a market source, each event and each `heartbeat` signal (a pong, a provider's heartbeat message) is
a feed heartbeat to the failure tiers (`RiskMonitor.heartbeat`: the connection is alive); the silence between
them is the tiers' own clock (`RiskMonitor.run_ticks` beside the feed). When the source gives up reconnecting,
a SYSTEM_HEALTH `feed:<name>` down event is submitted (the rules raise their CRITICAL alert for it), a
CRITICAL `feed_gave_up` alert says why, and `FeedGaveUpError` ends the run.

The runner is the body of a `SupervisedTask`: it beats at each signal, and a restart by the health monitor
plays the source again, which reconnects and resumes from its own state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aegis.pipeline import Pipeline
from aegis.runtime.feeder import TapeFeeder
from aegis.runtime.supervised_task import SupervisedTask
from state.alerts import AlertLevel
from tools.feeds.live import Connection, DeadLetter, FeedEvent, LiveSource, compact_time, event_id

log = logging.getLogger(__name__)


class FeedGaveUpError(RuntimeError):
    """The source stopped reconnecting (its limit reached); the message says why, on one line."""


@dataclass
class LiveStats:
    events: int = 0
    dead_letters: int = 0
    disconnects: int = 0
    heartbeats: int = 0


class LiveFeedRunner:
    def __init__(self, pipeline: Pipeline, feeder: TapeFeeder, source: LiveSource, *, market: bool) -> None:
        """`market`: the source's data is market data (its heartbeats arm the feed-disconnect tier)."""
        self._pipeline = pipeline
        self._feeder = feeder
        self._source = source
        self._market = market
        self.stats = LiveStats()

    async def play(self, task: SupervisedTask | None = None) -> None:
        async for signal in self._source.signals():
            if isinstance(signal, FeedEvent):
                await self._feeder.apply(signal.event)
                self.stats.events += 1
                await self._heartbeat()
            elif isinstance(signal, DeadLetter):
                log.warning("%s: dead letter: %s", self._source.name, signal.reason)
                await self._feeder.apply(
                    {"id": None, "source": self._source.name, "unparsed_line": signal.raw, "error": signal.reason}
                )
                self.stats.dead_letters += 1
            elif signal.state == "heartbeat":
                await self._heartbeat()
            elif signal.state == "disconnected":
                self.stats.disconnects += 1
            elif signal.state == "gave_up":
                await self._gave_up(signal)
                raise FeedGaveUpError(f"{self._source.name}: {signal.detail}")
            if task is not None:
                task.beat()

    async def _heartbeat(self) -> None:
        if self._market:
            self.stats.heartbeats += 1
            await self._pipeline.monitor.heartbeat()

    async def _gave_up(self, signal: Connection) -> None:
        now = self._pipeline.services.clock.now()
        component = f"feed:{self._source.name}"
        await self._pipeline.submit({
            "id": event_id("feed", self._source.name, "gave-up", compact_time(now)),
            "type": "SYSTEM_HEALTH",
            "source": self._source.name,
            "priority": "critical",
            "event_time": now.isoformat(),
            "payload": {"component": component, "status": "down", "detail": signal.detail[:1000]},
        })  # fmt: skip
        await self._pipeline.alerting.raise_alert(
            AlertLevel.CRITICAL, "feed_gave_up", f"feed {self._source.name}: {signal.detail}",
            dedup_key=component,
        )  # fmt: skip
