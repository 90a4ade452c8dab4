"""One router per resource; `ROUTERS` is what the app includes, in the order the OpenAPI page lists them."""

from __future__ import annotations

from fastapi import APIRouter

from aegis.server.routers import decisions, events, health, trading

ROUTERS: tuple[APIRouter, ...] = (
    events.router,
    decisions.router,
    trading.router,
    health.router,
)
