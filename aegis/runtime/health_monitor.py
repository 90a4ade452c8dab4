"""The health monitor: every `interval_s` (30 s) it checks each component, says what changed as SYSTEM_HEALTH
events, and recovers what it can. It runs beside a worker (`aegis worker`), in the server (`aegis serve`),
beside a feeder (`aegis feed`) and once for `aegis health`.

What a round does, in order: the worker's heartbeat is written (with a worker); every probe runs
(`aegis.runtime.health_probes`, each bounded by `probe_timeout_s`); the recoveries follow; the events are
submitted; the report becomes `latest`.

Recoveries:
- A store that was down and answers again is reconnected at once (`PostgresStore.reconnect`: every idle pooled
  connection checked, the dead ones replaced; `RedisHotStore.reconnect`: the client's connections dropped).
  Both clients already reconnect by themselves at their next use; this clears what the outage left behind
  before a session meets it. Nothing needs a restart of the process.
- A supervised feed whose last tick is older than `feed_tick_max_age_s` is restarted (at most
  `feed_max_restarts` times; then it stays down for an operator), resuming where it stopped.
- A worker whose resident memory reaches `memory_limit_mb` (2 GB) is recycled: it stops taking events,
  finishes those in flight, writes a last heartbeat (`stopped`) and its process exits with
  `RECYCLE_EXIT_CODE` (75, EX_TEMPFAIL) so that its supervisor (compose `restart:`, Kubernetes) starts a
  fresh one. Without a worker (the server) memory over the limit is only reported.

What is emitted (`pipeline.submit`, so the failure tiers and the SYSTEM_HEALTH rules hear it): one event per
component whose status changed since the last one emitted (the first round compares with `ok`, so a healthy
start emits nothing): not the same report every 30 s. `cpu` is never emitted (`not_emitted`: it swings with
the load of the moment). Changes are what the rules act on (a CRITICAL alert for down, a WARNING for
degraded) and what the durable `health:<component>` values keep. Event ids are
`health-<origin>-<start>-<round>-<component>`: unique per process and round, the same if a round's event is
submitted again. An event that cannot be recorded (PostgreSQL is the component that is down) waits in order
and is submitted at the next round that can: the outage's record arrives once the store is back.

Deliberate choices about the failure tiers (`graphs.system_health`):
- `provider:<route>` events are consistent with the tiers by construction: their status is the risk
  monitor's own observation (down from its reducing threshold), so a `down` adds nothing new and an `ok`
  after a down confirms what the tier already heard from the calls themselves.
- No `feed:<name>` event is ever emitted: `feed:* ok` is a feed heartbeat to the tiers, and a heartbeat every
  30 s (or once on recovery) would arm the feed-disconnect tier with gaps over its 30 s HALT threshold. The
  supervised feeds report as `feed_task:<name>`, which only the rules read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import psutil

from aegis.pipeline import Pipeline
from aegis.runtime import health_probes as probes
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.health_config import HealthConfig
from aegis.runtime.health_report import ComponentHealth, HealthReport, Status
from aegis.runtime.supervised_task import SupervisedTask
from aegis.runtime.worker import Worker
from aegis.runtime.worker_heartbeat import beat_of, write_heartbeat
from state.bus.base import EventBus
from state.clock import Clock
from state.events import EventType

RECYCLE_EXIT_CODE = 75  # EX_TEMPFAIL: "try again": the supervisor starts a fresh worker
OUTBOX_LIMIT = 1000  # events kept while they cannot be recorded; the oldest goes first past it (logged)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")

log = logging.getLogger(__name__)


@runtime_checkable
class Reconnectable(Protocol):
    async def reconnect(self) -> None: ...


class HealthMonitor:
    def __init__(
        self,
        pipeline: Pipeline,
        config: HealthConfig,
        *,
        worker: Worker | None = None,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        feeds: Sequence[SupervisedTask] = (),
        emit: bool = True,
        origin: str | None = None,
    ) -> None:
        """`bus`: the bus to watch (default: the worker's; without a worker, one opened from the settings when
        Redis is configured). `feeds`: supervised feed tasks to watch and restart. `emit`: submit
        SYSTEM_HEALTH events (False for a one-off look such as `aegis health`)."""
        self._pipeline = pipeline
        self._config = config
        self._worker = worker
        self._clock = clock or pipeline.services.clock
        self._feeds = list(feeds)
        self._emit = emit
        self.origin = _safe(origin or (worker.name if worker else f"{socket.gethostname()}-{os.getpid()}"))
        self._own_bus = bus is None and worker is None and bool(pipeline.settings.redis_url)
        self._bus = bus or (worker.bus if worker else (open_bus(pipeline.settings) if self._own_bus else None))
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # the first reading counts from here
        self._started_at = self._clock.now()
        self._started = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._round = 0
        self._dead_seen: list[int] = []
        self._emitted: dict[str, Status] = {}
        self._outbox: list[dict[str, Any]] = []
        self.latest: HealthReport | None = None
        self._listeners: list[Callable[[HealthReport], None]] = []
        self.recycle = False  # the worker was asked to stop for its memory: exit with RECYCLE_EXIT_CODE

    def listen(self, listener: Callable[[HealthReport], None]) -> None:
        """Call `listener` with every report (the metrics' health gauges); a failing listener is logged."""
        self._listeners.append(listener)

    def watch_feed(self, task: SupervisedTask) -> None:
        self._feeds.append(task)

    @property
    def outbox(self) -> list[dict[str, Any]]:
        """Events waiting to be recorded (their store was down)."""
        return list(self._outbox)

    async def check_once(self) -> HealthReport:
        self._round += 1
        now = self._clock.now()
        if self._worker is not None:
            await self._beat(now, stopped=False)
        components = await self._probe(now)
        recovery = await self._recover(components)
        report = HealthReport(origin=self.origin, checked_at=now, components=tuple(components),
                              recovery=tuple(recovery))  # fmt: skip
        if self._emit:
            self._queue_changes(report)
            store = report.component("postgres")
            if store is None or store.status != "down":  # else it would wait out the pool's timeout to fail
                await self._flush()
        self.latest = report
        for listener in self._listeners:
            try:
                listener(report)
            except Exception:  # a listener never stops the monitor
                log.exception("health report listener failed")
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """`check_once` every `interval_s` until `stop` is set; a round that fails is logged, the next one runs."""
        try:
            while not stop.is_set():
                try:
                    await self.check_once()
                except Exception:  # the monitor never ends the process it watches
                    log.exception("health check failed; next one in %.0f s", self._config.interval_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._config.interval_s)
        finally:
            await self.close()

    async def close(self) -> None:
        """Write the worker's last heartbeat (stopped) and close what the monitor opened itself."""
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._beat(self._clock.now(), stopped=True)
        if self._own_bus and self._bus is not None:
            await self._bus.close()
            self._bus = None

    # ---- the probes -----------------------------------------------------------------------------

    async def _probe(self, now: datetime) -> list[ComponentHealth]:
        settings, services, config = self._pipeline.settings, self._pipeline.services, self._config
        required = set(config.required)
        timeout = config.probe_timeout_s

        def run(name: str, probe: Any) -> Any:
            return probes.timed(name, probe, now, timeout, name in required)

        found = list(
            await asyncio.gather(
                run("postgres", probes.durable_probe(services.store, bool(settings.postgres_url))),
                run(
                    "redis",
                    probes.hot_probe(services.hot.hot, bool(settings.redis_url), self.origin, config.interval_s * 2),
                ),
                run("bus", probes.bus_probe(self._bus, config, self._dead_seen)),
                run("workers", probes.workers_probe(services.store, config, now)),
            )
        )
        monitor = self._pipeline.monitor
        for name, result in probes.provider_components(monitor.provider_health(), settings.protection.provider, now):
            found.append(await run(name, _found(result)))
        found.append(await run("circuits", _found(probes.circuits(services.providers))))
        for task in self._feeds:
            found.append(await run(f"feed_task:{task.name}", _found(probes.feed_found(task, config))))
        found.append(await run("cpu", _found(probes.cpu_found(config))))
        found.append(await run("memory", _found(probes.memory_found(config, self._process))))
        found.append(await run("disk", _found(probes.disk_found(config, settings.data_dir))))
        return found

    # ---- recovery -------------------------------------------------------------------------------

    async def _recover(self, components: list[ComponentHealth]) -> list[str]:
        done: list[str] = []
        services = self._pipeline.services
        clients = {"postgres": services.store, "redis": services.hot.hot}
        for component in components:
            name, status = component.component, component.status
            was = self._previous(name)
            client = clients.get(name)
            if client is not None and was == "down" and status != "down" and isinstance(client, Reconnectable):
                try:
                    await client.reconnect()
                    done.append(f"{name}: reconnected after the outage")
                except Exception as exc:  # down again already: the next round sees it
                    done.append(f"{name}: reconnect failed: {type(exc).__name__}: {exc}")
        for task in self._feeds:
            age = task.beat_age_s()
            if task.finished or age is None or age < self._config.feed_tick_max_age_s:
                continue
            if task.restarts >= self._config.feed_max_restarts:
                done.append(f"feed_task:{task.name}: stalled, {task.restarts} restarts spent: left for an operator")
                continue
            await task.restart(f"last tick {age:.0f} s ago")
            done.append(f"feed_task:{task.name}: restarted (last tick {age:.0f} s ago)")
        memory = next((c for c in components if c.component == "memory"), None)
        rss = memory.measured.get("rss_mb") if memory is not None else None
        over = isinstance(rss, float) and rss >= self._config.memory_limit_mb
        if over and self._worker is not None and not self.recycle:
            self.recycle = True
            self._worker.stop()
            done.append(
                f"worker {self._worker.name}: {rss:.0f} MB >= {self._config.memory_limit_mb:.0f} MB: recycling "
                f"(finishing what is in flight, then exit {RECYCLE_EXIT_CODE})"
            )
        for line in done:
            log.warning("health: %s", line)
        return done

    def _previous(self, component: str) -> Status:
        if self.latest is None:
            return "ok"
        found = self.latest.component(component)
        return found.status if found is not None else "ok"

    # ---- events ---------------------------------------------------------------------------------

    def _queue_changes(self, report: HealthReport) -> None:
        for component in report.components:
            if component.component in self._config.not_emitted:
                continue
            if component.status == self._emitted.get(component.component, "ok"):
                continue
            self._emitted[component.component] = component.status
            self._outbox.append(self._event(component, report.checked_at))
        if len(self._outbox) > OUTBOX_LIMIT:
            dropped = self._outbox[: len(self._outbox) - OUTBOX_LIMIT]
            del self._outbox[: len(dropped)]
            log.warning("health: %d unrecorded SYSTEM_HEALTH events dropped (oldest first)", len(dropped))

    def _event(self, component: ComponentHealth, at: datetime) -> dict[str, Any]:
        return {
            "id": _event_id(f"health-{self.origin}-{self._started}-{self._round}-{component.component}"),
            "type": EventType.SYSTEM_HEALTH.value,
            "source": "health-monitor",
            "priority": "high" if component.status == "down" else "normal",
            "event_time": at.isoformat(),
            "payload": {
                "component": component.component,
                "status": component.status,
                "detail": f"{self.origin}: {component.detail}"[:1000],
            },
        }

    async def _flush(self) -> None:
        """Submit the waiting events in order; the first that cannot be recorded stops the rest until next round."""
        while self._outbox:
            try:
                await self._pipeline.submit(self._outbox[0])
            except Exception as exc:  # the store is away: keep it, and the ones after it, in order
                log.warning("health: %d SYSTEM_HEALTH events wait for the store: %s", len(self._outbox), exc)
                return
            self._outbox.pop(0)

    async def _beat(self, now: datetime, *, stopped: bool) -> None:
        worker = self._worker
        assert worker is not None
        beat = beat_of(worker.name, worker.stats.handled, self._started_at, stopped=stopped)
        try:
            await write_heartbeat(self._pipeline.services.store, beat, now)
        except Exception as exc:  # the store is away: the postgres probe says so
            log.warning("health: heartbeat of %s not written: %s", worker.name, exc)


def _found(result: probes.Found) -> Any:
    async def probe() -> probes.Found:
        return result

    return probe


def _safe(text: str) -> str:
    return _ID_UNSAFE.sub("-", text).strip("-._:")[:40] or "process"


def _event_id(text: str) -> str:
    """A valid event id (its pattern, 128 characters at most); a longer one keeps a hash of the whole."""
    safe = _ID_UNSAFE.sub("-", text)
    if len(safe) <= 128:
        return safe
    return f"{safe[:115]}-{hashlib.sha1(safe.encode()).hexdigest()[:12]}"
