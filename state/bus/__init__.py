"""Event buses: the contract (`EventBus`, `Delivery`, `BusPolicy`, errors) and its two implementations.

`InMemoryBus` is the embedded default; `RedisStreamsBus` is the production one. Pick one by configuration,
never by branching inside callers: they see only `EventBus`.
"""

from state.bus.base import (
    BusClosedError,
    BusError,
    BusPolicy,
    BusUnavailableError,
    DeadLetterReason,
    Delivery,
    EventBus,
)
from state.bus.memory import InMemoryBus
from state.bus.redis_streams import RedisStreamsBus

__all__ = [
    "BusClosedError",
    "BusError",
    "BusPolicy",
    "BusUnavailableError",
    "DeadLetterReason",
    "Delivery",
    "EventBus",
    "InMemoryBus",
    "RedisStreamsBus",
]
