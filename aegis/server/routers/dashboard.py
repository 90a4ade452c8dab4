"""The web dashboard: the page at `/` and its files (open: they hold no data), and the read-only series only
the dashboard asks for (`/api/whoami`, `/api/dashboard/equity`, `/api/dashboard/latency`; read role).

Every datum the page shows comes from an authenticated API call made by its script with the key or token
the user pasted (kept in the tab's sessionStorage, sent as `Authorization: Bearer`). The page and its files
carry a strict Content-Security-Policy: scripts and styles from this origin only, no inline script, calls to
this origin only, no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse

from aegis.server.auth import Context, Reader
from aegis.server.dashboard_data import bots_pnl_by_day, equity_by_day, equity_now, stage_latencies

router = APIRouter(tags=["dashboard"])
FOLDER = Path(__file__).resolve().parent.parent / "dashboard"
FILES = {  # the page's files, by name: nothing else under the folder is served
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "stream.js": "text/javascript",
    "panels.js": "text/javascript",
    "chart.js": "text/javascript",
    "style.css": "text/css",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(FOLDER / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/dashboard/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    media = FILES.get(name)
    if media is None:
        raise HTTPException(404, f"no dashboard file {name}")
    return FileResponse(FOLDER / name, media_type=f"{media}; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/api/whoami", summary="Who the credentials name: name, role and how they authenticated")
async def whoami(principal: Reader) -> dict[str, Any]:
    return {"name": principal.name, "role": str(principal.role), "via": principal.via, "actor": principal.actor}


@router.get("/api/dashboard/equity", summary="The account now, its equity by day and the bots' P&L by day")
async def equity(context: Context, principal: Reader) -> dict[str, Any]:
    store, settings = context.pipeline.services.store, context.settings
    return {
        "now": await equity_now(store, settings),
        "by_day": await equity_by_day(store),
        "bots_by_day": await bots_pnl_by_day(store),
    }


@router.get("/api/dashboard/latency", summary="p50/p95/p99 of each stage over the newest decisions (all workers)")
async def latency(
    context: Context,
    principal: Reader,
    window: Annotated[int | None, Query(ge=1, le=5_000, description="Newest decisions (default: the setting)")] = None,
) -> dict[str, Any]:
    chosen = window or context.settings.server.dashboard.latency_window
    records = await context.pipeline.services.store.recent_decisions(chosen)
    rows = stage_latencies(records)
    return {
        "window": chosen,
        "decisions": len(records),
        "stages": [
            {"stage": r.stage, "count": r.count, "p50_ms": r.p50_ms, "p95_ms": r.p95_ms, "p99_ms": r.p99_ms,
             "max_ms": r.max_ms}
            for r in rows
        ],
    }  # fmt: skip
