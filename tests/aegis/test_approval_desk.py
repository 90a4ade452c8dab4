"""The pipeline's approvals desk: a decision reaches the resolver registered for its kind (one line to
register one), whose result is kept on the approval; expiry on the pipeline's clock reaches it too; a kind
with no resolver is decided and nothing follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aegis import Pipeline, Settings
from state.access import Access
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id
from state.clock import SimulatedClock
from tests.conftest import SESSION_DAY, bundled_bars
from tools.ops.approvals import ApprovalDecidedError

T0 = bundled_bars()[SESSION_DAY].time


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    opened = await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False), clock=SimulatedClock(T0))
    try:
        yield opened
    finally:
        await opened.close()


def plan(request_id: str, timeout_s: float = 600) -> Approval:
    return Approval(
        approval_id=approval_id(ApprovalKind.WORKFLOW, request_id), kind=ApprovalKind.WORKFLOW, subject_id=request_id,
        requested_by="ana", summary="rebalance at the conservative level", created_at=T0,
        expires_at=T0 + timedelta(seconds=timeout_s),
    )  # fmt: skip


async def test_every_decision_reaches_its_kind_s_resolver_and_its_result_is_kept(pipeline: Pipeline) -> None:
    heard: list[tuple[str, ApprovalStatus]] = []

    async def resume_plan(approval: Approval) -> dict[str, Any] | None:
        heard.append((approval.approval_id, approval.status))
        return {"resumed": approval.status is ApprovalStatus.APPROVED}

    pipeline.resolve_approvals(ApprovalKind.WORKFLOW, resume_plan)
    for request in ("r1", "r2", "r3"):
        await pipeline.approval_control.open(plan(request, timeout_s=600 if request != "r3" else 60))
    approved = await pipeline.approve("workflow:r1", by="bob", role=Access.TRADE, reason="go")
    rejected = await pipeline.reject("workflow:r2", by="bob", role=Access.TRADE, reason="no")
    assert approved.result == {"resumed": True} and rejected.result == {"resumed": False}
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(T0 + timedelta(seconds=60))
    [expired] = await pipeline.expire_approvals()
    assert expired.status is ApprovalStatus.EXPIRED and expired.result == {"resumed": False}
    assert heard == [("workflow:r1", ApprovalStatus.APPROVED), ("workflow:r2", ApprovalStatus.REJECTED),
                     ("workflow:r3", ApprovalStatus.EXPIRED)]  # fmt: skip


async def test_a_late_approval_expires_it_through_its_resolver_and_is_refused(pipeline: Pipeline) -> None:
    heard: list[ApprovalStatus] = []

    async def resume_plan(approval: Approval) -> dict[str, Any] | None:
        heard.append(approval.status)
        return None

    pipeline.resolve_approvals(ApprovalKind.WORKFLOW, resume_plan)
    await pipeline.approval_control.open(plan("r1", timeout_s=60))
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(T0 + timedelta(seconds=61))
    with pytest.raises(ApprovalDecidedError, match="already expired"):
        await pipeline.approve("workflow:r1", by="bob", role=Access.TRADE, reason="late")
    assert heard == [ApprovalStatus.EXPIRED]


async def test_a_workflow_approval_whose_thread_is_gone_says_that_nothing_can_run(pipeline: Pipeline) -> None:
    await pipeline.approval_control.open(plan("r1"))  # an approval with no workflow thread behind it
    with pytest.raises(ValueError, match="no workflow waiting for this approval"):
        await pipeline.approve("workflow:r1", by="bob", role=Access.TRADE, reason="go")
    [decided] = await pipeline.approvals()
    assert decided.status is ApprovalStatus.APPROVED and decided.result is None  # decided; nothing ran
