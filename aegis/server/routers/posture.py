"""The posture: the one in force (and where it comes from), the last evaluation, the last changes; an
operator's override and its end (`PostureControl`, audited with the caller). Tightening (a more defensive
posture, or clearing an override that leaves a more defensive one) needs the trade role, loosening admin:
the route passes the caller's role and the control decides (403 naming the role needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, Field, model_validator

from aegis.server.auth import Context, Reader, Trader
from aegis.server.requests import Reason, ReasonBody, Strict
from quant.posture import posture_named
from state.posture import CurrentPosture

router = APIRouter(prefix="/api/posture", tags=["posture"])
SHOWN_CHANGES = 10


class OverrideRequest(Strict):
    posture: str = Field(min_length=1, max_length=32, description="offensive, guerrilla (neutral) or defensive")
    reason: Reason
    until: AwareDatetime | None = Field(None, description="End the override then (default: until cleared)")
    minutes: float | None = Field(None, gt=0, lt=10_000_000, description="End the override after this long")

    @model_validator(mode="after")
    def _one_end(self) -> OverrideRequest:
        if self.until is not None and self.minutes is not None:
            raise ValueError("give until or minutes, not both")
        posture_named(self.posture)  # ValueError naming the choices
        return self


def _current(current: CurrentPosture) -> dict[str, Any]:
    return current.model_dump(mode="json")


@router.get("", summary="The posture in force, its source, the last evaluation and the last changes")
async def read(context: Context, principal: Reader) -> dict[str, Any]:
    control = context.pipeline.posture
    book, changes = await control.book(), await control.history(SHOWN_CHANGES)
    return {
        "current": _current(await control.current()),
        "evaluated": book.evaluated.model_dump(mode="json") if book.evaluated is not None else None,
        "override": book.override.model_dump(mode="json") if book.override is not None else None,
        "changes": [{"at": c.at.isoformat(), "posture": c.posture, "reason": c.reason, "vix": c.vix} for c in changes],
    }


@router.post("/override", summary="Override the posture (trade role to tighten, admin to loosen; audited)")
async def override(body: OverrideRequest, context: Context, principal: Trader) -> dict[str, Any]:
    pipeline = context.pipeline
    until = body.until
    if body.minutes is not None:
        until = pipeline.services.clock.now() + timedelta(minutes=body.minutes)
    current = await pipeline.posture.override(
        posture_named(body.posture), reason=body.reason, actor=principal.actor, until=until, role=principal.role
    )
    return {"current": _current(current)}


@router.post("/clear", summary="End the override: the evaluation applies again (admin when that loosens)")
async def clear(body: ReasonBody, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        current = await context.pipeline.posture.clear(reason=body.reason, actor=principal.actor, role=principal.role)
    except LookupError as exc:
        raise HTTPException(409, str(exc).strip("'")) from None
    return {"current": _current(current)}
