"""Approvals: what waits for a person before it runs, and what became of it.

Two kinds wait: an operator workflow's plan that trades or changes a limit, a mode or an allocation (its
thread stopped at the approval interrupt), and a deliberation's order that the approval policy parks before
`execute`. Each is one `Approval` record, keyed by what it approves (`order:<event id>`,
`workflow:<request id>`), so asking twice never makes two. An approval is decided once: approved, rejected
(by a person) or expired (its time ran out: rejected, recorded).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from state.access import Access


class ApprovalKind(StrEnum):
    ORDER = "order"  # a deliberation's guarded order, parked before execute
    WORKFLOW = "workflow"  # an operator request's plan, stopped at the approval interrupt


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # nobody decided in time: treated as rejected


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    approval_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: ApprovalKind
    subject_id: Annotated[str, Field(min_length=1)]  # the order's event id, the workflow's request id
    requested_by: Annotated[str, Field(min_length=1)]  # who asked (an operator, or "deliberation")
    summary: Annotated[str, Field(min_length=1, max_length=2000)]  # one line a person can decide on
    needs: Access = Access.TRADE  # the role an approver must hold
    detail: dict[str, Any] = Field(default_factory=dict)  # the order and its decision record; the plan
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_role: Access | None = None  # the role the decider held (None: expired, or decided before it was kept)
    decided_at: AwareDatetime | None = None
    reason: str | None = None  # the approver's reason, or why it expired
    result: dict[str, Any] | None = None  # what running it did (the order placed, the workflow's outcome)

    @property
    def pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING

    def expired_at(self, now: datetime) -> bool:
        return self.pending and self.expires_at is not None and now >= self.expires_at


def approval_id(kind: ApprovalKind, subject_id: str) -> str:
    return f"{kind}:{subject_id}"


def decided_as(approval: Approval) -> str:
    """How a decided approval was decided, in words: "approved by ana at 2017-03-01T21:00:00+00:00 (ok)"."""
    at = approval.decided_at.isoformat() if approval.decided_at is not None else "an unknown time"
    reason = f" ({approval.reason})" if approval.reason else ""
    return f"{approval.status} by {approval.decided_by or 'nobody'} at {at}{reason}"
