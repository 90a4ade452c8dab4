"""The live stream: server-sent events for the dashboard (read role, authenticated by the header like every
route; a browser reads it with fetch() and a stream reader, since EventSource cannot send a header).

Events: `hello` (the stream is live: read the panels now, nothing after this is missed), `decision` (a
decision's summary row, as `GET /api/decisions` lists it), `alert` (new or acknowledged), `approvals` (the
pending ones changed: their ids), `status` (trading state, tier, posture or readiness changed), `resync` (this
browser was too slow and lost `dropped` updates: read the panels again). Comments every
`server.dashboard.heartbeat_s` keep proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from sse_starlette import EventSourceResponse, ServerSentEvent

from aegis.server.auth import Context, Reader
from aegis.server.broadcaster import STREAM_KEY, Broadcaster

router = APIRouter(prefix="/api", tags=["dashboard"])
PRIME_TIMEOUT_S = 10.0


def _event(kind: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(event=kind, data=json.dumps(data, separators=(",", ":")))


@router.get(
    "/stream",
    summary="Live updates as server-sent events: decisions, alerts, approvals, status (read role)",
    response_class=EventSourceResponse,
)
async def stream(context: Context, principal: Reader) -> EventSourceResponse:
    broadcaster: Broadcaster | None = context.extras.get(STREAM_KEY)
    if broadcaster is None:
        raise HTTPException(503, "the live stream does not run on this server")
    config = context.settings.server.dashboard

    async def updates() -> AsyncIterator[ServerSentEvent]:
        async with broadcaster.subscription() as subscription:
            primed = await broadcaster.primed(PRIME_TIMEOUT_S)
            yield _event("hello", {"name": principal.name, "role": str(principal.role), "primed": primed})
            while (update := await subscription.next()) is not None:
                dropped = subscription.take_dropped()
                if dropped:
                    yield _event("resync", {"dropped": dropped})
                yield _event(update.kind, update.data)

    return EventSourceResponse(
        updates(), ping=config.heartbeat_s, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
