"""Decisions: the newest ones with filters, and one in full (its stages with each role's provider, model,
prompt id and hash, tokens and cost; the guard's changes; the order)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from aegis.server.auth import Context, Reader
from state.decisions import DecisionRecord, Outcome

router = APIRouter(prefix="/api/decisions", tags=["decisions"])
SCAN = 5_000  # the newest decisions a filtered listing looks through


def summary(record: DecisionRecord) -> dict[str, Any]:
    """A decision in one row: what the listings and the dashboard show."""
    order = record.order
    return {
        "event_id": record.event_id,
        "event_type": record.event_type,
        "symbol": record.symbol,
        "bot_id": record.bot_id,
        "outcome": str(record.outcome),
        "reason": record.reason,
        "decided_at": record.decided_at.isoformat(),
        "posture": record.posture,
        "vetoed": record.outcome is Outcome.VETOED,
        "guard_changes": len(record.guard_changes),
        "order": None if order is None else {"order_id": order.order_id, "side": str(order.request.side),
                                             "quantity": order.request.quantity, "status": str(order.status)},
        "tokens": record.llm_usage.input_tokens + record.llm_usage.output_tokens,
        "cost_usd": record.llm_usage.cost_usd,
        "latency_ms": round(sum(stage.latency_ms for stage in record.stages), 1),
        "correlation_id": record.correlation_id,
    }  # fmt: skip


@router.get("", summary="The newest decisions, filtered by type, outcome, symbol, bot and time")
async def list_decisions(
    context: Context,
    principal: Reader,
    event_type: Annotated[str | None, Query(description="e.g. SIGNAL, NEWS, OPERATOR_REQUEST")] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    bot: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="Decided at or after (ISO 8601 with a zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, "invalid request: since: give a time zone (e.g. 2024-01-02T15:00:00Z)")
    recent = await context.pipeline.services.store.recent_decisions(SCAN)
    found = [
        r for r in recent
        if (event_type is None or r.event_type == event_type.upper())
        and (outcome is None or r.outcome is outcome)
        and (symbol is None or r.symbol == symbol.upper())
        and (bot is None or r.bot_id == bot)
        and (since is None or r.decided_at >= since)
    ]  # fmt: skip
    return {"decisions": [summary(r) for r in found[:limit]], "matched": len(found), "scanned": len(recent)}


@router.get("/{event_id}", summary="One decision in full: stages, prompts' hashes, tokens, cost, guard, order")
async def get_decision(event_id: str, context: Context, principal: Reader) -> dict[str, Any]:
    record = await context.pipeline.services.store.get_decision(event_id)
    if record is None:
        raise HTTPException(404, f"no decision for event {event_id}")
    return record.model_dump(mode="json")
