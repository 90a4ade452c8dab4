"""`GET /metrics`: the server's Prometheus metrics (`aegis.runtime.metrics`). Open to a scraper by default
(`server.metrics_public`); when not, it needs a key like any other route."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aegis.server.auth import Context, authenticate, limit

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics: stages, events, vetoes, orders, LLM calls, cost, bus, health")
async def metrics(request: Request, context: Context) -> Response:
    if not context.settings.server.metrics_public:
        principal = await authenticate(request, context)  # every role reads; a caller without one is 401
        await limit(context, principal.bucket)
    body, content_type = context.metrics.render()
    return Response(body, media_type=content_type)
