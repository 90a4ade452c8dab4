"""The REST server: `create_app(settings)` builds the FastAPI application that `aegis serve` runs.

The app opens one `Pipeline` for its life (the same one the Python API gives: its stores, controls, flows),
so every route calls the code the CLI calls. Routers are one module per resource (`aegis.server.routers`).
Around the routes: the request size limit (FastAPI's own, announced or streamed), CORS (origins from settings; none by
default), the access log (who called what, the status and the time; never a key or a token).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from aegis.pipeline import Pipeline
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.health_monitor import HealthMonitor
from aegis.server.broadcaster import STREAM_KEY
from aegis.server.context import ServerContext
from aegis.server.errors import install_error_handlers
from aegis.server.live import attach_live_feed
from aegis.server.rate_limit import open_rate_limiter
from aegis.server.routers import ROUTERS
from aegis.server.tokens import TokenVerifier
from aegis.settings import Settings
from state.clock import WallClock
from tools.ops.api_keys import KeyControl

log = logging.getLogger("aegis.server")
OPEN_PATHS = ("/api/health", "/metrics", "/docs", "/openapi.json", "/redoc")

Startup = Callable[[ServerContext], Awaitable[None]]


def _inline(settings: Settings) -> bool:
    chosen = settings.server.events_inline
    return chosen if chosen is not None else not settings.redis_url


def create_app(
    settings: Settings | None = None, *, pipeline: Pipeline | None = None, on_start: list[Startup] | None = None
) -> FastAPI:
    """The application. With `pipeline`, the app uses it and leaves it open; without, it opens one from
    `settings` when it starts and closes it when it stops. `on_start` hooks run once the context exists
    (the health monitor and metrics attach there; the dashboard's live feed always does, first)."""
    settings = settings or (pipeline.settings if pipeline is not None else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = pipeline or await Pipeline.open(settings)
        bus = None if _inline(settings) else open_bus(settings)
        context = ServerContext(
            settings=settings,
            pipeline=opened,
            keys=KeyControl(opened.services.store, WallClock()),
            tokens=TokenVerifier(settings.server.jwt),
            limiter=open_rate_limiter(settings.server.rate_limit, settings.redis_url, settings.redis_prefix),
            bus=bus,
        )
        app.state.aegis = context
        context.metrics.attach(opened)
        stop = asyncio.Event()
        if settings.server.health_monitor:
            monitor = HealthMonitor(opened, settings.health)
            monitor.listen(context.metrics.record_health)
            context.health = monitor
            context.spawn(monitor.run(stop))
        for hook in (attach_live_feed, *(on_start or ())):
            await hook(context)
        try:
            yield
        finally:
            stop.set()
            await asyncio.sleep(0)  # the monitor sees the stop and closes what it opened
            stream = context.extras.get(STREAM_KEY)
            if stream is not None:
                stream.close()  # the dashboards' streams end
            for task in list(context.tasks):
                task.cancel()
            await asyncio.gather(*context.tasks, return_exceptions=True)
            await context.limiter.close()
            if bus is not None:
                await bus.close()
            if pipeline is None:
                await opened.close()

    app = FastAPI(
        title="AEGIS",
        version="0.1.0",
        summary="LLM-deliberated, risk-guarded trading decisions: the operator's REST API",
        lifespan=lifespan,
        max_body_size=settings.server.max_body_bytes,  # 413 whether the length is announced or streamed
    )
    install_error_handlers(app)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        actor = principal.actor if principal is not None else "anonymous"
        mutating = request.method not in ("GET", "HEAD", "OPTIONS")
        log.info(
            "%s %s %s %d %.1f ms",
            actor,
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            extra={"category": "audit" if mutating else "message", "actor": actor},
        )
        return response

    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    for router in ROUTERS:
        app.include_router(router)
    return app
