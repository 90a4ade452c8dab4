"""Health: liveness (the process serves), readiness (each component, from the health monitor when it runs).
Open to probes without a key: they say how the system is, never what it holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aegis.server.auth import Context
from aegis.server.readiness import readiness

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("/live", summary="Liveness: the process is up and serving")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: every required component answers (503 when one does not)")
async def ready(context: Context) -> JSONResponse:
    report = await readiness(context)
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


@router.get("", summary="The system's health: readiness with each component's status")
async def health(context: Context) -> dict[str, Any]:
    return await readiness(context)
