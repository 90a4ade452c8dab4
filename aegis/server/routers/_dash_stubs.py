"""Minimal bots, alerts and approvals routes the dashboard calls, until their own routers land (they replace
this module: delete it and its line in `ROUTERS`). Same paths, bodies and roles as theirs."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from aegis.runtime.bot_report import bot_rows
from aegis.server.auth import Context, Reader, Trader
from state.approvals import ApprovalStatus
from tools.ops.approvals import ApprovalDecidedError, UnknownApprovalError

router = APIRouter(prefix="/api", tags=["dashboard stubs"])


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=3, max_length=500)]


@router.get("/bots")
async def list_bots(context: Context, principal: Reader) -> dict[str, Any]:
    rows = await bot_rows(context.pipeline.services.store)
    return {
        "bots": [
            {"bot_id": r.bot_id, "strategy": r.strategy, "allocation": r.allocation, "state": r.state, "why": r.why,
             "pnl": _finite(r.pnl), "positions": r.positions, "days": r.days,
             "total_return": _finite(r.total_return), "sharpe": _finite(r.sharpe),
             "max_drawdown": _finite(r.max_drawdown)}
            for r in rows
        ]
    }  # fmt: skip


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@router.get("/alerts")
async def list_alerts(context: Context, principal: Reader, unacknowledged: bool = False, limit: int = 50) -> Any:
    found = await context.pipeline.services.store.alerts(unacknowledged_only=unacknowledged, limit=limit)
    return {"alerts": [alert.model_dump(mode="json") for alert in found]}


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(alert_id: str, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        alert = await context.pipeline.alerting.acknowledge(alert_id, principal.actor)
    except KeyError:
        raise HTTPException(404, f"no alert {alert_id}") from None
    return {"alert": alert.model_dump(mode="json")}


@router.get("/approvals")
async def pending(context: Context, principal: Reader) -> dict[str, Any]:
    found = await context.pipeline.approvals(ApprovalStatus.PENDING)
    return {"approvals": [approval.model_dump(mode="json") for approval in found]}


async def _decide(context: Context, principal: Trader, approval_id: str, body: Decision, approve: bool) -> Any:
    decide = context.pipeline.approve if approve else context.pipeline.reject
    try:
        approval = await decide(approval_id, by=principal.actor, role=principal.role, reason=body.reason)
    except UnknownApprovalError as exc:
        raise HTTPException(404, str(exc)) from None
    except ApprovalDecidedError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"approval": approval.model_dump(mode="json")}


@router.post("/approvals/{approval_id}/approve")
async def approve(approval_id: str, body: Decision, context: Context, principal: Trader) -> dict[str, Any]:
    answer: dict[str, Any] = await _decide(context, principal, approval_id, body, True)
    return answer


@router.post("/approvals/{approval_id}/reject")
async def reject(approval_id: str, body: Decision, context: Context, principal: Trader) -> dict[str, Any]:
    answer: dict[str, Any] = await _decide(context, principal, approval_id, body, False)
    return answer
