"""What the workflow works with beyond the deliberation's services: the tool registry, the approvals desk,
its settings, and the vocabulary Sena plans in (the bots, symbols, strategies and eval sets that exist).
Built in code by `aegis` (which binds the tools to the same jobs as the CLI); never checkpointed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graphs.workflow.config import WorkflowConfig
from state.access import Access
from state.approvals import Approval
from state.orders import Order
from tools.registry.spec import ToolRegistry


class ApprovalDesk(Protocol):
    """Where approvals wait for a person (`tools.ops.approvals.ApprovalControl`)."""

    async def open(self, approval: Approval) -> Approval: ...

    async def get(self, approval_id: str) -> Approval: ...

    async def decide(self, approval_id: str, *, approved: bool, by: str, role: Access, reason: str) -> Approval: ...


# The names Sena may use: {"symbols": [...], "strategies": [...], "eval_sets": [...]} (bots come from the store).
Vocabulary = Callable[[], Awaitable[dict[str, list[str]]]]
# What the run's orders complete, if anything: one line per manipulative pattern found (RUNE's market check).
IntegrityScan = Callable[[Sequence[Order]], Awaitable[list[str]]]


@dataclass(frozen=True, slots=True)
class WorkflowServices:
    registry: ToolRegistry
    approvals: ApprovalDesk
    config: WorkflowConfig
    vocabulary: Vocabulary
    integrity: IntegrityScan
    checkpointer: Any = None  # the workflow's own durable checkpointer when the flows run without one
