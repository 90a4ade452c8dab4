"""What readiness reports: the health monitor's latest check when it runs beside the server, else a direct
round trip to the durable store (the one component without which nothing works)."""

from __future__ import annotations

import time
from typing import Any

from aegis.server.context import ServerContext


async def readiness(context: ServerContext) -> dict[str, Any]:
    monitor = context.health
    if monitor is not None:
        report = monitor.latest or await monitor.check_once()
        return report.summary()
    started = time.perf_counter()
    try:
        await context.pipeline.services.store.recent_decisions(1)
        store: dict[str, Any] = {"component": "store", "status": "ok", "detail": ""}
    except Exception as exc:  # any failure of the round trip means: not ready
        store = {"component": "store", "status": "down", "detail": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    store["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    ready = store["status"] == "ok"
    return {"ready": ready, "status": "ok" if ready else "down", "components": [store]}
