"""Alerts: the persisted ones, newest first, with filters (unacknowledged, at or above a level, since a time),
and acknowledging one (trade role: it stops the alert's escalation, as `aegis alerts ack` does; audited with
the caller). An unknown alert is 404; acknowledging twice keeps the first acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from aegis.server.auth import Context, Reader, Trader
from state.alerts import AlertLevel

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
SCAN = 5_000  # the newest alerts a filtered listing looks through


def zoned(since: datetime | None) -> datetime | None:
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, "invalid request: since: give a time zone (e.g. 2024-01-02T15:00:00Z)")
    return since


@router.get("", summary="Alerts, newest first: unacknowledged only, at or above a level, since a time")
async def list_alerts(
    context: Context,
    principal: Reader,
    unacknowledged: Annotated[bool, Query(description="Only the ones nobody acknowledged")] = False,
    level: Annotated[AlertLevel | None, Query(description="At or above this level")] = None,
    since: Annotated[datetime | None, Query(description="Raised at or after (ISO 8601 with a zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    since = zoned(since)
    found = await context.pipeline.services.store.alerts(unacknowledged_only=unacknowledged, limit=SCAN)
    kept = [
        alert for alert in found
        if (level is None or alert.level.rank >= level.rank) and (since is None or alert.raised_at >= since)
    ]  # fmt: skip
    return {"alerts": [alert.model_dump(mode="json") for alert in kept[:limit]], "matched": len(kept)}


@router.post("/{alert_id}/acknowledge", summary="Acknowledge an alert (trade role): its escalation stops")
async def acknowledge(alert_id: str, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        alert = await context.pipeline.alerting.acknowledge(alert_id, principal.actor)
    except KeyError:
        raise HTTPException(404, f"no alert {alert_id}") from None
    return {"alert": alert.model_dump(mode="json")}
