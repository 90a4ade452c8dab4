"""The trading state and the kill switch: read it (with the whole `aegis status`), halt (trade role),
resume (admin role; `reset` for a halt a loss limit or a data breach set). Audited with the caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from aegis.ops_status import status as read_status
from aegis.server.auth import Admin, Context, Reader, Trader
from state.trading import ACCOUNT_SCOPE
from tools.ops.trading import ResetRequiredError

router = APIRouter(prefix="/api", tags=["trading"])

Reason = Annotated[str, Field(min_length=3, max_length=500, description="Why: recorded in the audit log")]


class HaltRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    symbol: str | None = Field(None, max_length=32, description="Halt one symbol only")


class ResumeRequest(HaltRequest):
    reset: bool = Field(False, description="Authorised reset of a halt set by a loss limit or a data breach")


@router.get("/status", summary="Trading state, posture, open orders, limits in use, failure tier, open alerts")
async def status(context: Context, principal: Reader) -> dict[str, Any]:
    found = await read_status(context.pipeline)
    return {
        "trading": found.trading.model_dump(mode="json"),
        "posture": found.posture,
        "posture_reason": found.posture_reason,
        "tier": found.tier,
        "open_orders": [order.model_dump(mode="json") for order in found.open_orders],
        "limits": [{"name": u.name, "used": u.used, "limit": u.limit, "unit": u.unit} for u in found.limits],
        "alerts": [alert.model_dump(mode="json") for alert in found.alerts],
    }


@router.get("/trading", summary="The trading state of the account and of each symbol")
async def trading(context: Context, principal: Reader) -> dict[str, Any]:
    return (await context.pipeline.trading.states()).model_dump(mode="json")


@router.post("/trading/halt", summary="The kill switch (trade role): HALTED at once, open orders cancelled")
async def halt(body: HaltRequest, context: Context, principal: Trader) -> dict[str, Any]:
    scope = body.symbol.upper() if body.symbol else ACCOUNT_SCOPE
    report = await context.pipeline.halt(reason=body.reason, actor=principal.actor, scope=scope)
    return {"status": report.status.model_dump(mode="json"), "cancelled": [o.order_id for o in report.cancelled]}


@router.post("/trading/resume", summary="Back to ACTIVE (admin role); reset=true for a loss-limit or breach halt")
async def resume(body: ResumeRequest, context: Context, principal: Admin) -> dict[str, Any]:
    scope = body.symbol.upper() if body.symbol else ACCOUNT_SCOPE
    try:
        status = await context.pipeline.resume(reason=body.reason, actor=principal.actor, scope=scope, reset=body.reset)
    except ResetRequiredError as exc:
        raise HTTPException(409, f"{exc}; resume with reset=true if you are authorised") from None
    return {"status": status.model_dump(mode="json")}
