"""The workflow's state: the deliberation's (one event in, one decision out) plus what each role adds.

A workflow handles one OPERATOR_REQUEST event. Thread id = the request's event id, so an approval that waits
at the interrupt is found again after a restart (the checkpointer keeps the thread). Everything here is
plain data (pydantic models or JSON), so it checkpoints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.lubit import LubitVerdict
from agents.rune import RuneReview
from agents.sena import Plan
from graphs.deliberation.state import DeliberationState
from state.access import Access


class Problem(BaseModel):
    """One thing Lubit's checks found wrong with a plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str  # "tool", "arguments", "authority", "dependencies", "plan"
    message: str
    step: str | None = None
    fixable: bool = True  # Sena may fix it (revise); else the plan is rejected


class PlanChecks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Literal["approve", "revise", "reject"]
    problems: list[Problem] = Field(default_factory=list)
    needs_approval: bool = False  # a step trades or changes a limit, a mode or an allocation
    approver_role: Access = Access.TRADE  # the role an approver must hold: the most any step needs
    step_access: dict[str, Access] = Field(default_factory=dict)  # the role each step needs


class ApprovalGiven(BaseModel):
    """A person's answer at the approval interrupt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approved: bool
    by: str
    role: Access
    reason: str
    at: datetime


class StepResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str
    tool: str
    status: Literal["ok", "failed", "skipped", "refused"]
    attempts: int = 0
    summary: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    cites: list[str] = Field(default_factory=list)
    error: str | None = None
    mutates: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None


class WorkflowState(DeliberationState, total=False):
    request: str  # the operator's text (untrusted: shown to models only as a quoted block)
    requester: str
    role: Access
    plan: Plan
    rounds: int  # times Lubit sent the plan back to Sena
    feedback: list[str]  # Lubit's reasons for the last revise
    checks: PlanChecks
    lubit: LubitVerdict
    approval: ApprovalGiven
    results: dict[str, StepResult]
    review: RuneReview
