"""What every route reaches through the request: the open Pipeline and the server's own parts."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from aegis.pipeline import Pipeline
from aegis.runtime.health_monitor import HealthMonitor
from aegis.runtime.metrics import Metrics
from aegis.server.rate_limit import RateLimiter
from aegis.server.tokens import TokenVerifier
from aegis.settings import Settings
from state.bus.base import EventBus
from tools.ops.api_keys import KeyControl


@dataclass(slots=True)
class ServerContext:
    settings: Settings
    pipeline: Pipeline
    keys: KeyControl
    tokens: TokenVerifier
    limiter: RateLimiter
    bus: EventBus | None  # None: submitted events run in the server
    metrics: Metrics = field(default_factory=Metrics)  # what /metrics serves, fed by the pipeline's records
    health: HealthMonitor | None = None  # the health monitor running in the server (readiness reads it)
    extras: dict[str, Any] = field(default_factory=dict)  # state a router keeps for the server's life
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `work` in the background, held until it ends (cancelled when the server stops)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


def server_context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.aegis
    return context
