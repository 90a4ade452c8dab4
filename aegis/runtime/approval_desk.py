"""The approvals desk: a person's decision on an approval, then what follows from it, dispatched by kind.

`tools.ops.approvals.ApprovalControl` records decisions; this desk adds the consequence: each approval kind
has one resolver (`ApprovalKind -> async resolver`), called with the decided approval, whose result is kept on
it. ORDER's resolver (the pipeline's) executes an approved order again through the guard; WORKFLOW's (the
operator workflow's) resumes the stopped plan. Registering a kind is one line:
`pipeline.resolve_approvals(ApprovalKind.WORKFLOW, resolver)`.

Decisions that must not be silently changed:
- A crash between the decision and its consequence loses nothing: approving again an approval that is
  APPROVED with no result runs the resolver again (resolvers are idempotent: an order by its event id).
- Every decision reaches its resolver, rejections and expiries too (a resolver that acts only on approval
  returns None for them: nothing to keep).
- Expiry follows the injected clock: `expire` is called as the market feed's clock moves and before listing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aegis.runtime.recheck import Recheck
from state.access import Access, require
from state.approvals import Approval, ApprovalKind, ApprovalStatus
from state.clock import Clock
from tools.ops.approvals import ApprovalControl

log = logging.getLogger(__name__)

# What follows from a decided approval; returns what to keep on it as its result (None: nothing).
ApprovalResolver = Callable[[Approval], Awaitable[dict[str, Any] | None]]


class ApprovalDesk:
    def __init__(self, control: ApprovalControl, clock: Clock) -> None:
        self._control = control
        self._clock = clock
        self._resolvers: dict[ApprovalKind, ApprovalResolver] = {}
        self._expiries = Recheck()

    def resolve(self, kind: ApprovalKind, resolver: ApprovalResolver) -> None:
        """What follows from a decision on an approval of `kind` (replaces any resolver registered before)."""
        self._resolvers[kind] = resolver

    async def approvals(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[Approval]:
        """Approvals (of one status, or all), newest first, after expiring those whose time ran out."""
        await self.expire()
        return await self._control.list(status, limit)

    async def approve(self, approval_id: str, *, by: str, role: Access, reason: str) -> Approval:
        """Approve and run what was approved; the approval with its result. Approving again an approval that
        was approved but has no result (the run died after the decision) runs it again."""
        await self.expire()  # one whose time ran out is expired (and resolved as such), not approved
        held = await self._control.get(approval_id)
        if held.status is ApprovalStatus.APPROVED and held.result is None:
            require(role, held.needs, f"running approval {approval_id}")
            log.warning("approval %s was approved with no result recorded: running it again", approval_id)
            return await self._resolved(held)
        decided = await self._control.decide(approval_id, approved=True, by=by, role=role, reason=reason)
        return await self._resolved(decided)

    async def reject(self, approval_id: str, *, by: str, role: Access, reason: str) -> Approval:
        await self.expire()
        decided = await self._control.decide(approval_id, approved=False, by=by, role=role, reason=reason)
        return await self._resolved(decided)

    async def expire(self) -> list[Approval]:
        """Expire the pending approvals whose time ran out on the clock; each expired one is resolved."""
        return [await self._resolved(expired) for expired in await self._control.expire_due(self._clock.now())]

    async def sweep(self) -> list[Approval]:
        """`expire`, as the feed's clock moves: the pending approvals are read when one can have run out, after
        one was opened or closed here, or after a moment of wall time (`aegis.runtime.recheck`)."""
        now, revision = self._clock.now(), self._control.revision
        if not self._expiries.needed(now, revision):
            return []
        swept = await self._control.sweep(now)
        self._expiries.read(swept.next_expiry, revision)
        return [await self._resolved(expired) for expired in swept.expired]

    async def _resolved(self, approval: Approval) -> Approval:
        resolver = self._resolvers.get(approval.kind)
        if resolver is None:
            log.warning(
                "no resolver for %s approvals: %s decided, nothing follows", approval.kind, approval.approval_id
            )
            return approval
        result = await resolver(approval)
        if result is None:
            return approval
        return await self._control.record_result(approval.approval_id, result)
