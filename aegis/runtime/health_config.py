"""The health monitor's settings (`Settings.health`): how often it looks, and where ok ends.

Defaults: every 30 s and a worker recycled past 2 GB of memory (orchestrator v2; AEGIS v3.1 section 6). Each
threshold is inclusive on the worse side ("at or over"), so a value equal to a limit is the worse status.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(30.0, gt=0, description="Seconds between two health checks (AEGIS v3.1 section 6)")
    probe_timeout_s: float = Field(
        5.0, gt=0, description="A probe (a store round trip, the bus) not answered within this is down"
    )
    memory_limit_mb: float = Field(
        2048.0,
        gt=0,
        description="A worker whose resident memory reaches this is recycled: it stops taking events, finishes "
        "those in flight and exits with code 75 so its supervisor starts a fresh one",
    )
    memory_warn_share: float = Field(
        0.8, gt=0, le=1, description="Resident memory at this share of the limit is degraded"
    )
    system_memory_degraded_pct: float = Field(
        95.0, gt=0, le=100, description="The machine's memory in use at or over this percentage is degraded"
    )
    cpu_degraded_pct: float = Field(
        90.0, gt=0, le=100, description="The machine's CPU use since the last check at or over this is degraded"
    )
    disk_free_degraded_pct: float = Field(
        10.0, ge=0, le=100, description="Free space on the data folder's disk at or under this percentage: degraded"
    )
    disk_free_down_pct: float = Field(
        2.0, ge=0, le=100, description="Free space on the data folder's disk at or under this percentage: down"
    )
    feed_tick_degraded_s: float = Field(
        30.0, gt=0, description="A supervised feed whose last tick is this old (seconds) is degraded"
    )
    feed_tick_max_age_s: float = Field(
        120.0, gt=0, description="A supervised feed whose last tick is this old is down and restarted"
    )
    feed_max_restarts: int = Field(
        5, ge=0, description="Restarts of a stalled feed task before the monitor leaves it down for an operator"
    )
    bus_pending_degraded: int = Field(
        1000, ge=1, description="Events delivered and not yet acknowledged at or over this: the bus is degraded"
    )
    bus_backlog_degraded: int = Field(
        10_000, ge=1, description="Events published and never delivered (the lag) at or over this: degraded"
    )
    dead_letters_degraded: int = Field(
        10, ge=1, description="New dead letters since the last check at or over this: the bus is degraded"
    )
    heartbeat_every_s: float = Field(
        30.0, gt=0, description="How often a worker writes its heartbeat (id, pid, host, memory, events handled)"
    )
    heartbeat_max_age_s: float = Field(
        90.0, gt=0, description="A worker whose last heartbeat is this old is stale (the workers are degraded)"
    )
    heartbeat_forget_s: float = Field(
        86_400.0, gt=0, description="A worker silent this long is no longer reported (it is gone, not stale)"
    )
    not_emitted: tuple[str, ...] = Field(
        ("cpu",),
        description="Components reported but never emitted as SYSTEM_HEALTH events: their status swings with the "
        "load of the moment (a busy replay), and a WARNING alert each swing would be noise",
    )
    required: tuple[str, ...] = Field(
        ("postgres", "redis", "bus", "disk"),
        description="Components that make the process not ready while down (readiness probe); others only warn",
    )

    @model_validator(mode="after")
    def _ordered(self) -> HealthConfig:
        if self.disk_free_down_pct > self.disk_free_degraded_pct:
            raise ValueError("disk_free_down_pct must not exceed disk_free_degraded_pct")
        if self.feed_tick_degraded_s > self.feed_tick_max_age_s:
            raise ValueError("feed_tick_degraded_s must not exceed feed_tick_max_age_s")
        return self
