"""Approvals: what waits for a person (orders parked before execute, workflows stopped before they change
anything), and a person's decision (trade role at least; the approval's own `needs` is checked by the control
against the caller's role, 403 naming it). Approving runs what was approved (`Pipeline.approve`: an order is
guarded and executed again against the account as it is now; a workflow's plan runs), as `aegis approvals`
does; the decision is audited with the caller. An unknown approval is 404, one decided or expired already 409.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from aegis.server.auth import Context, Reader, Trader
from aegis.server.context import ServerContext
from aegis.server.principal import Principal
from aegis.server.requests import ReasonBody
from state.approvals import Approval, ApprovalStatus
from tools.ops.approvals import ApprovalDecidedError, UnknownApprovalError

router = APIRouter(prefix="/api/approvals", tags=["approvals"])
Status = Literal["pending", "approved", "rejected", "expired", "all"]


def approval_json(approval: Approval) -> dict[str, Any]:
    return approval.model_dump(mode="json")


async def decide(
    context: ServerContext, approval_id: str, *, approved: bool, principal: Principal, reason: str
) -> Approval:
    """Approve (and run) or reject `approval_id` as `principal`; the statuses of the refusals."""
    pipeline = context.pipeline
    decision = pipeline.approve if approved else pipeline.reject
    try:
        return await decision(approval_id, by=principal.actor, role=principal.role, reason=reason)
    except UnknownApprovalError as exc:
        raise HTTPException(404, str(exc)) from None
    except ApprovalDecidedError as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("", summary="Approvals, newest first: pending ones (default) or of a status; orders and workflows")
async def list_approvals(
    context: Context,
    principal: Reader,
    status: Annotated[Status, Query(description="pending, approved, rejected, expired or all")] = "pending",
) -> dict[str, Any]:
    chosen = None if status == "all" else ApprovalStatus(status)
    return {"approvals": [approval_json(a) for a in await context.pipeline.approvals(chosen)]}


@router.post("/{approval_id}/approve", summary="Approve (trade role, or the role it needs) and run it; audited")
async def approve(approval_id: str, body: ReasonBody, context: Context, principal: Trader) -> dict[str, Any]:
    done = await decide(context, approval_id, approved=True, principal=principal, reason=body.reason)
    return {"approval": approval_json(done)}


@router.post("/{approval_id}/reject", summary="Reject (trade role, or the role it needs): nothing runs; audited")
async def reject(approval_id: str, body: ReasonBody, context: Context, principal: Trader) -> dict[str, Any]:
    done = await decide(context, approval_id, approved=False, principal=principal, reason=body.reason)
    return {"approval": approval_json(done)}
