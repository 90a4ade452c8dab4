"""The live stream's source: what changed in the durable store, published to the dashboard's browsers.

One mechanism for every process: while somebody watches, a watcher reads the store's newest decisions,
alerts, pending approvals and the system's status every `dashboard.poll_s` and publishes what is new or
changed. Decisions made and alerts raised in this process wake it at once (`Pipeline.listen_decisions`,
`Alerting.listen`), so they arrive without waiting for the next poll; decisions the workers make (bus mode:
the server runs no sessions) arrive with the next poll, because they are in the same store.

It never holds the pipeline up: the listeners only set a flag, and publishing never waits
(`aegis.server.broadcaster`). Nobody watching: no watcher runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aegis.ops_status import status as read_status
from aegis.server.broadcaster import STREAM_KEY, Broadcaster
from aegis.server.config import DashboardConfig
from aegis.server.context import ServerContext
from aegis.server.readiness import readiness
from aegis.server.routers.decisions import summary
from state.alerts import Alert
from state.approvals import ApprovalStatus
from state.decisions import DecisionRecord

log = logging.getLogger("aegis.server.live")
LIVE_KEY = "live"  # ServerContext.extras key of the LiveFeed (its broadcaster under STREAM_KEY)
MIN_GAP_S = 0.1  # between two reads of the store, however often the pipeline wakes the watcher


@dataclass(slots=True)
class Seen:
    """What the watcher published last: decision ids (bounded, oldest forgotten first), each alert's
    acknowledgement, the pending approvals, the status."""

    limit: int
    decisions: OrderedDict[str, None] = field(default_factory=OrderedDict)
    alerts: dict[str, str | None] = field(default_factory=dict)
    approvals: tuple[str, ...] | None = None
    status: dict[str, Any] | None = None

    def new_decision(self, event_id: str) -> bool:
        if event_id in self.decisions:
            return False
        self.decisions[event_id] = None
        while len(self.decisions) > self.limit:
            self.decisions.popitem(last=False)
        return True


class LiveFeed:
    def __init__(self, context: ServerContext) -> None:
        self._context = context
        self._config: DashboardConfig = context.settings.server.dashboard
        self.broadcaster = Broadcaster(self._config.queue_size, on_first=self._start, on_last=self._stop)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def attach(self) -> None:
        """Wake the watcher on this process's decisions and alerts."""
        self._context.pipeline.listen_decisions(self._woken_by_decision)
        self._context.pipeline.alerting.listen(self._woken_by_alert)

    def _woken_by_decision(self, _: DecisionRecord) -> None:
        self._wake.set()

    def _woken_by_alert(self, _: Alert) -> None:
        self._wake.set()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._context.spawn(self._watch())

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        seen, primed = Seen(limit=4 * self._config.watch_window), False
        while True:
            try:
                await self._read(seen, publish=primed)  # the first read: what the panels load, not published
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store that fails now may answer at the next poll; the stream goes on
                log.warning("live stream: reading the store failed: %s", f"{type(exc).__name__}: {exc}".splitlines()[0])
            else:
                if not primed:
                    primed = True
                    self.broadcaster.mark_primed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._config.poll_s)
            self._wake.clear()
            await asyncio.sleep(MIN_GAP_S)

    async def _read(self, seen: Seen, *, publish: bool) -> None:
        store, out = self._context.pipeline.services.store, self.broadcaster
        self.polls += 1
        for record in reversed(await store.recent_decisions(self._config.watch_window)):  # oldest first
            if seen.new_decision(record.event_id) and publish:
                out.publish("decision", summary(record))
        alerts: dict[str, str | None] = {}  # the newest alerts only: what left the window is not watched
        for alert in reversed(await store.alerts(limit=self._config.watch_window)):
            acknowledged = alert.acknowledged_at.isoformat() if alert.acknowledged_at is not None else None
            alerts[alert.alert_id] = acknowledged
            if publish and seen.alerts.get(alert.alert_id, "") != acknowledged:
                out.publish("alert", {**alert.model_dump(mode="json"), "changed": alert.alert_id in seen.alerts})
        seen.alerts = alerts
        pending = tuple(a.approval_id for a in await store.approvals(ApprovalStatus.PENDING))
        if pending != seen.approvals:
            seen.approvals = pending
            if publish:
                out.publish("approvals", {"pending": list(pending)})
        state = await self._status()
        if state != seen.status:
            seen.status = state
            if publish:
                out.publish("status", state)

    async def _status(self) -> dict[str, Any]:
        found = await read_status(self._context.pipeline)
        ready = await readiness(self._context)
        account = found.trading.account
        return {
            "trading": str(account.state),
            "trading_reason": account.reason,
            "symbols": {s: str(t.state) for s, t in found.trading.symbols.items()},
            "tier": found.tier,
            "posture": found.posture,
            "ready": bool(ready.get("ready")),
            "health": ready.get("status"),
        }


def live_feed(context: ServerContext) -> LiveFeed:
    feed: LiveFeed = context.extras[LIVE_KEY]
    return feed


async def attach_live_feed(context: ServerContext) -> None:
    """The app's start hook: the live feed of `/api/stream`, woken by this process's pipeline."""
    feed = LiveFeed(context)
    feed.attach()
    context.extras[LIVE_KEY] = feed
    context.extras[STREAM_KEY] = feed.broadcaster
