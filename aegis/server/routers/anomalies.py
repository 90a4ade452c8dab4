"""Anomalies: the ANOMALY_DETECTED events the anomaly watch found (or a feed sent) and what the rules did
about them, newest first, with filters (at or above a severity, a bot, a symbol, since a time). An anomaly is
not acknowledged itself: the alerts its rules raised are (`/api/alerts/{id}/acknowledge`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from aegis.server.auth import Context, Reader
from aegis.server.routers.alerts import zoned
from state.decisions import DecisionRecord
from state.events import EventType, Severity

router = APIRouter(prefix="/api/anomalies", tags=["anomalies"])
SCAN = 5_000  # the newest decisions a listing looks through
RANKS = {severity.value: rank for rank, severity in enumerate(Severity)}


def anomaly(record: DecisionRecord) -> dict[str, Any]:
    found = record.operation or {}
    return {
        "event_id": record.event_id, "decided_at": record.decided_at.isoformat(), "rule": found.get("rule"),
        "severity": found.get("severity"), "bot_id": found.get("bot_id", record.bot_id), "symbol": record.symbol,
        "evidence": found.get("evidence", {}), "outcome": str(record.outcome), "response": record.reason,
        "correlation_id": record.correlation_id,
    }  # fmt: skip


@router.get("", summary="Anomalies found, newest first, with what the rules did: by severity, bot, symbol, time")
async def list_anomalies(
    context: Context,
    principal: Reader,
    severity: Annotated[Severity | None, Query(description="At or above this severity")] = None,
    bot: Annotated[str | None, Query(max_length=128)] = None,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[datetime | None, Query(description="Decided at or after (ISO 8601 with a zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    since = zoned(since)
    recent = await context.pipeline.services.store.recent_decisions(SCAN)
    found = [anomaly(r) for r in recent if r.event_type == EventType.ANOMALY_DETECTED.value]
    kept = [
        a for a in found
        if (severity is None or RANKS.get(str(a["severity"]), -1) >= RANKS[severity.value])
        and (bot is None or a["bot_id"] == bot)
        and (symbol is None or a["symbol"] == symbol.upper())
        and (since is None or datetime.fromisoformat(a["decided_at"]) >= since)
    ]  # fmt: skip
    return {"anomalies": kept[:limit], "matched": len(kept)}
