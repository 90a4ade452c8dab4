"""One router per resource; `ROUTERS` is what the app includes, in the order the OpenAPI page lists them."""

from __future__ import annotations

from fastapi import APIRouter

from aegis.server.routers import (
    alerts,
    anomalies,
    approvals,
    bots,
    dashboard,
    decisions,
    events,
    health,
    limits,
    metrics,
    portfolio,
    posture,
    rules,
    stream,
    trading,
    workflow,
)

ROUTERS: tuple[APIRouter, ...] = (
    events.router,
    decisions.router,
    trading.router,
    portfolio.router,
    bots.router,
    anomalies.router,
    alerts.router,
    rules.router,
    posture.router,
    limits.router,
    workflow.router,
    approvals.router,
    health.router,
    metrics.router,
    stream.router,
    dashboard.router,
)
