"""One router per resource; `ROUTERS` is what the app includes, in the order the OpenAPI page lists them."""

from __future__ import annotations

from fastapi import APIRouter

from aegis.server.routers import _dash_stubs, dashboard, decisions, events, health, stream, trading

ROUTERS: tuple[APIRouter, ...] = (
    events.router,
    decisions.router,
    trading.router,
    health.router,
    _dash_stubs.router,  # until the bots, alerts and approvals routers land
    stream.router,
    dashboard.router,
)
