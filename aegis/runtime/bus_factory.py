"""The event bus the settings ask for: Redis Streams when `redis_url` is set (shared by many processes),
else the in-process bus (one process only)."""

from __future__ import annotations

from aegis.settings import Settings
from state.bus.base import BusPolicy, EventBus
from state.bus.memory import InMemoryBus
from state.bus.redis_streams import RedisStreamsBus


def open_bus(settings: Settings) -> EventBus:
    policy = BusPolicy(claim_idle_ms=settings.bus_claim_idle_ms, max_deliveries=settings.bus_max_deliveries)
    if settings.redis_url:
        prefix = settings.redis_prefix
        return RedisStreamsBus.from_url(
            settings.redis_url, stream=f"{prefix}:events", group=f"{prefix}-workers", policy=policy
        )
    return InMemoryBus(policy)
