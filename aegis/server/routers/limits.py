"""The risk limits an operator may change: each one's value in force, its setting and its last change; a change
and a reset to the setting (`LimitControl`, audited with the caller and the role). Tightening needs the trade
role, loosening admin: the route passes the caller's role and the control decides (403 naming the role).
An unknown limit is 404; a value the limits refuse is 422."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from aegis.server.auth import Context, Reader, Trader
from aegis.server.requests import Reason, ReasonBody, Strict
from state.risk_limits import LimitChange
from tools.ops.limits import UnknownLimitError

router = APIRouter(prefix="/api/limits", tags=["limits"])


class SetLimit(Strict):
    value: float
    reason: Reason


def _change(change: LimitChange) -> dict[str, Any]:
    return {"change": change.model_dump(mode="json"), "moved": change.moved}


@router.get("", summary="Each adjustable risk limit: in force, the setting, who changed it last, when and why")
async def read(context: Context, principal: Reader) -> dict[str, Any]:
    states = await context.pipeline.limits.states()
    return {
        "limits": [
            {"name": s.name, "in_force": s.in_force, "setting": s.setting, "overridden": s.overridden,
             "last_change": s.last_change.model_dump(mode="json") if s.last_change is not None else None}
            for s in states
        ]
    }  # fmt: skip


@router.put("/{name}", summary="Change a limit, in percent (trade role to tighten, admin to loosen; audited)")
async def set_limit(name: str, body: SetLimit, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        change = await context.pipeline.limits.set(
            name, body.value, actor=principal.actor, reason=body.reason, role=principal.role
        )
    except UnknownLimitError as exc:
        raise HTTPException(404, str(exc)) from None
    return _change(change)


@router.post("/{name}/reset", summary="Back to the setting (trade role if that tightens, admin if it loosens)")
async def reset_limit(name: str, body: ReasonBody, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        change = await context.pipeline.limits.reset(
            name, actor=principal.actor, reason=body.reason, role=principal.role
        )
    except UnknownLimitError as exc:
        raise HTTPException(404, str(exc)) from None
    return _change(change)
