"""One probe per component of the health check; each returns what it found, never raises.

- `postgres` / `redis`: a real round trip through the store the pipeline holds (a read of the durable store; a
  write and read back of a short-lived key in the hot store). Not configured: the embedded SQLite file is
  probed the same way and said so; the in-process hot store is reported as such (nothing to reach).
- `bus`: delivered-not-acked (pending), never-delivered (the lag) and new dead letters since the last check.
- `workers`: every worker's last heartbeat (`aegis.runtime.worker_heartbeat`); stale ones are named.
- `provider:<route>`: each LLM route's failure run as the risk monitor observed it (the one recorder of
  provider outcomes: `ObservedClient` -> `RiskMonitor.observe_provider`); `circuits`: the resilient clients'
  circuit breakers (a route open while its backup serves is degraded, not down).
- `feed_task:<name>`: a supervised feed's last tick age (`aegis.runtime.supervised_task`).
- `cpu`, `memory` (this process's resident memory against the recycle limit, and the machine's), `disk`.
A probe that does not answer within `probe_timeout_s` is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import psutil

from aegis.runtime.health_config import HealthConfig
from aegis.runtime.health_report import ComponentHealth, Measured, Status, at_least, worst
from aegis.runtime.supervised_task import SupervisedTask
from aegis.runtime.worker_heartbeat import read_heartbeats, rss_mb
from agents.llm.registry import ProviderRegistry
from quant.tiers import ProviderHealth, ProviderThresholds
from state.bus.base import EventBus
from state.hot import HotStore
from state.store.base import DurableStore

Found = tuple[Status, str, Measured]
PROBE_KEY = "health:probe:{origin}"


async def timed(
    component: str, probe: Callable[[], Awaitable[Found]], now: datetime, timeout_s: float, required: bool
) -> ComponentHealth:
    """Run one probe within its time; an error or a timeout is `down` with its reason."""
    started = time.perf_counter()
    try:
        status, detail, measured = await asyncio.wait_for(probe(), timeout_s)
    except TimeoutError:
        status, detail, measured = "down", f"no answer within {timeout_s:g} s", {}
    except Exception as exc:  # any failure is the finding
        status, detail, measured = "down", f"{type(exc).__name__}: {exc}"[:300], {}
    latency = (time.perf_counter() - started) * 1000.0
    return ComponentHealth(
        component=component,
        status=status,
        detail=detail,
        measured=measured,
        checked_at=now,
        latency_ms=round(latency, 2),
        required=required,
    )


def durable_probe(store: DurableStore, configured: bool) -> Callable[[], Awaitable[Found]]:
    async def probe() -> Found:
        await store.get_value("health:probe")  # a read through the pool: connection, statement, reply
        what = "PostgreSQL round trip ok" if configured else "not configured: embedded SQLite, round trip ok"
        return "ok", what, {"configured": configured}

    return probe


def hot_probe(hot: HotStore, configured: bool, origin: str, ttl_s: float) -> Callable[[], Awaitable[Found]]:
    async def probe() -> Found:
        if not configured:
            return "ok", "not configured: in-process hot store", {"configured": False}
        key = PROBE_KEY.format(origin=origin)
        token = f"{origin}:{time.time_ns()}"
        await hot.set_value(key, token, ttl_s)
        read = await hot.get_value(key)
        if read != token:
            return "down", "Redis answered but did not keep a value (written, read back different)", {}
        return "ok", "Redis write and read back ok", {"configured": True}

    return probe


def bus_probe(bus: EventBus | None, config: HealthConfig, seen: list[int]) -> Callable[[], Awaitable[Found]]:
    """`seen` holds the dead letters counted at the last check (empty before the first); it is updated."""

    async def probe() -> Found:
        if bus is None:
            return "ok", "no bus in this process", {}
        pending = await bus.pending_count()
        backlog = await bus.backlog_count()
        dead = await bus.dead_letter_count()
        new_dead = dead - seen[0] if seen else 0
        seen[:] = [dead]
        status = worst([
            at_least(pending, config.bus_pending_degraded),
            at_least(backlog, config.bus_backlog_degraded),
            at_least(new_dead, config.dead_letters_degraded),
        ])  # fmt: skip
        detail = f"{pending} pending, {backlog} not delivered yet, {dead} dead letters ({new_dead} new)"
        return status, detail, {"pending": pending, "backlog": backlog, "dead_letters": dead, "new_dead": new_dead}

    return probe


def workers_probe(store: DurableStore, config: HealthConfig, now: datetime) -> Callable[[], Awaitable[Found]]:
    async def probe() -> Found:
        alive: list[str] = []
        stale: list[str] = []
        for beat, at in await read_heartbeats(store):
            age = (now - at).total_seconds()
            if beat.stopped or age >= config.heartbeat_forget_s:
                continue
            (stale if age >= config.heartbeat_max_age_s else alive).append(f"{beat.worker}@{beat.host}:{age:.0f}s")
        measured: Measured = {"alive": len(alive), "stale": len(stale)}
        if not alive and not stale:
            return "ok", "no worker heartbeat recorded", measured
        if stale:
            status: Status = "down" if not alive else "degraded"
            return status, f"stale: {', '.join(stale)}; alive: {len(alive)}", measured
        return "ok", f"{len(alive)} alive: {', '.join(alive)}", measured

    return probe


def provider_components(
    health: dict[str, ProviderHealth], thresholds: ProviderThresholds, now: datetime
) -> list[tuple[str, Found]]:
    """`provider:<route>` per route observed: failing under the reducing tier is degraded, from it on down."""
    found: list[tuple[str, Found]] = []
    for route, run in sorted(health.items()):
        failing = run.failing_for_s(now)
        if run.failing_since is None:
            found.append((f"provider:{route}", ("ok", "last call answered", {"failing_s": 0.0})))
            continue
        status: Status = "down" if failing >= thresholds.reducing_from_s else "degraded"
        found.append((f"provider:{route}", (status, f"failing for {failing:.0f} s", {"failing_s": round(failing, 1)})))
    return found


def circuits(registry: ProviderRegistry) -> Found:
    states = registry.breaker_states()
    if not states:
        return "ok", "no circuit breakers (no live provider configured)", {}
    tripped = sorted(f"{name}/{route} {state}" for name, routes in states.items() for route, state in routes.items()
                     if state != "closed")  # fmt: skip
    measured: Measured = {"routes": sum(len(r) for r in states.values()), "open": len(tripped)}
    if tripped:
        return "degraded", "circuit " + ", ".join(tripped), measured
    return "ok", "every circuit closed", measured


def feed_found(task: SupervisedTask, config: HealthConfig) -> Found:
    measured: Measured = {"restarts": task.restarts, "ticks": task.beats}
    if task.finished:
        error = task.error
        if error is not None:
            return "down", f"ended with {type(error).__name__}: {error}"[:300], measured
        return "ok", "finished", measured
    age = task.beat_age_s()
    if age is None:
        return "down", "not started", measured
    measured["last_tick_age_s"] = round(age, 1)
    status = at_least(age, config.feed_tick_degraded_s, config.feed_tick_max_age_s)
    return status, f"last tick {age:.0f} s ago, {task.restarts} restarts", measured


def cpu_found(config: HealthConfig) -> Found:
    used = psutil.cpu_percent(interval=None)  # since the previous call (the last check)
    return at_least(used, config.cpu_degraded_pct), f"CPU {used:.0f} % since the last check", {"cpu_pct": used}


def memory_found(config: HealthConfig, process: psutil.Process) -> Found:
    rss = rss_mb(process)
    system = psutil.virtual_memory().percent
    limit = config.memory_limit_mb
    status = worst([
        at_least(rss, limit * config.memory_warn_share, limit),
        at_least(system, config.system_memory_degraded_pct),
    ])  # fmt: skip
    detail = f"process {rss:.0f} MB of its {limit:.0f} MB limit; machine {system:.0f} % used"
    return status, detail, {"rss_mb": round(rss, 1), "limit_mb": limit, "system_pct": system}


def disk_found(config: HealthConfig, folder: Path) -> Found:
    where = folder if folder.exists() else Path(folder.anchor or ".")
    usage = psutil.disk_usage(str(where))
    free_pct = 100.0 - usage.percent
    free_mb = usage.free / (1024 * 1024)
    status: Status = "ok"
    if free_pct <= config.disk_free_down_pct:
        status = "down"
    elif free_pct <= config.disk_free_degraded_pct:
        status = "degraded"
    return status, f"{free_pct:.1f} % free ({free_mb:.0f} MB) at {where}", {"free_pct": free_pct, "free_mb": free_mb}
