"""The operator workflow over REST: ask in words (`POST /api/workflow`), see where a request stands
(`GET /api/workflow/{id}`), approve or reject the plan it stopped at.

A request runs `Pipeline.request(text, requester=<the caller>, role=<the caller's role>)`: the role comes from
the key or token, never from the text. Any role may ask; the workflow's gatekeeper refuses steps the role does
not allow, and a plan that changes anything stops for a person's approval (`workflow:<request id>`).

A run with real LLMs takes seconds to minutes, longer than a proxy waits, so by default the request is
accepted at once (202 with its id and a `Location`) and runs in the server's background; poll
`GET /api/workflow/{id}` (`running` until the plan is answered or waits for approval). `?wait=true` runs it
inline and answers with where it stands (200), which suits scripts and the rules planner. Runs still going
when the server stops are cancelled; a request that waits for approval survives a restart (its checkpoint).
At most `server.max_running_workflows` run at once (each may call the LLM roles); more are refused with 429.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import Field

from aegis.server.auth import Context, Reader, Trader
from aegis.server.context import ServerContext
from aegis.server.principal import Principal
from aegis.server.requests import ReasonBody, Strict
from aegis.server.routers.approvals import approval_json, decide
from state.approvals import ApprovalKind, approval_id

router = APIRouter(prefix="/api/workflow", tags=["workflow"])
log = logging.getLogger(__name__)
RUNS = "workflow_runs"  # context.extras: request id -> None while running, the error once failed
RETRY_BUSY_S = 5  # Retry-After when too many requests are running


class WorkflowRequest(Strict):
    request: str = Field(min_length=3, max_length=2000, description='What to do, in words: "stop the value bot"')


def _runs(context: ServerContext) -> dict[str, str | None]:
    runs: dict[str, str | None] = context.extras.setdefault(RUNS, {})
    return runs


async def _run(context: ServerContext, request_id: str, text: str, principal: Principal) -> None:
    runs = _runs(context)
    try:
        await context.pipeline.request(text, requester=principal.actor, role=principal.role, request_id=request_id)
    except Exception as exc:
        log.error("workflow %s failed: %s", request_id, type(exc).__name__, exc_info=exc)
        runs[request_id] = f"the workflow failed ({type(exc).__name__}); the server log has the details"
    else:
        runs.pop(request_id, None)


async def _where(context: ServerContext, request_id: str) -> dict[str, Any] | None:
    found = await context.pipeline.workflow(request_id)
    if found is None:
        runs = _runs(context)
        if request_id not in runs:
            return None
        failed = runs[request_id]
        outcome = "running" if failed is None else "failed"
        return {"request_id": request_id, "outcome": outcome, "reason": failed or outcome, "approval_id": None}
    waiting = found.get("outcome") == "awaiting_approval"
    return {
        "request_id": request_id,
        "outcome": found.get("outcome"),
        "reason": found.get("reason"),
        "approval_id": approval_id(ApprovalKind.WORKFLOW, request_id) if waiting else None,
        "workflow": jsonable_encoder(found),
    }


@router.post(
    "",
    status_code=202,
    summary="Ask in words (any role; the role is the caller's): 202, or 200 with wait",
    responses={200: {"description": "With wait=true: where the request stands"},
               429: {"description": "server.max_running_workflows requests are running already"}},
)  # fmt: skip
async def ask(
    body: WorkflowRequest,
    context: Context,
    principal: Reader,
    wait: Annotated[bool, Query(description="Run inline and answer where it stands (200)")] = False,
) -> JSONResponse:
    runs = _runs(context)
    busy = sum(1 for failed in runs.values() if failed is None)
    if busy >= context.settings.server.max_running_workflows:
        raise HTTPException(
            429, f"{busy} workflow requests are running (server.max_running_workflows); retry when one has ended",
            headers={"Retry-After": str(RETRY_BUSY_S)},
        )  # fmt: skip
    now = context.pipeline.services.clock.now()
    request_id = f"req-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    runs[request_id] = None
    if wait:
        await _run(context, request_id, body.request, principal)
        return JSONResponse(await _where(context, request_id), status_code=200)
    context.spawn(_run(context, request_id, body.request, principal))
    location = f"/api/workflow/{request_id}"
    return JSONResponse({"request_id": request_id, "outcome": "running", "location": location},
                        status_code=202, headers={"Location": location})  # fmt: skip


@router.get("/{request_id}", summary="Where a request stands: plan, verdict, approval, each step's result, review")
async def get_workflow(request_id: str, context: Context, principal: Reader) -> dict[str, Any]:
    found = await _where(context, request_id)
    if found is None:
        raise HTTPException(404, f"no workflow request {request_id}")
    return found


@router.post("/{request_id}/approve", summary="Approve the request's plan (trade role, or the role it needs): it runs")
async def approve(request_id: str, body: ReasonBody, context: Context, principal: Trader) -> dict[str, Any]:
    wanted = approval_id(ApprovalKind.WORKFLOW, request_id)
    done = await decide(context, wanted, approved=True, principal=principal, reason=body.reason)
    return {"approval": approval_json(done), "workflow": await _where(context, request_id)}


@router.post("/{request_id}/reject", summary="Reject the request's plan (trade role): nothing runs")
async def reject(request_id: str, body: ReasonBody, context: Context, principal: Trader) -> dict[str, Any]:
    wanted = approval_id(ApprovalKind.WORKFLOW, request_id)
    done = await decide(context, wanted, approved=False, principal=principal, reason=body.reason)
    return {"approval": approval_json(done), "workflow": await _where(context, request_id)}
