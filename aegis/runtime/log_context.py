"""The ids a log line carries from where it was written: the event a session runs and its chain.

A session binds them where it starts (`aegis.runtime.session`), in context variables, so every line written
while it runs (by its nodes, its roles, the store's audit lines) carries them, and lines written by other
sessions running at the same time in the same process carry theirs. asyncio copies the context into each
task it starts, so the graph's node tasks inherit them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

event_id_var: ContextVar[str | None] = ContextVar("aegis_event_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("aegis_correlation_id", default=None)


@contextmanager
def bound_event(event_id: str, correlation_id: str | None = None) -> Iterator[None]:
    """Lines written inside carry `event_id` and `correlation_id` (the event's own id for a root)."""
    event_token = event_id_var.set(event_id)
    chain_token = correlation_id_var.set(correlation_id or event_id)
    try:
        yield
    finally:
        correlation_id_var.reset(chain_token)
        event_id_var.reset(event_token)
