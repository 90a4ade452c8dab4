"""The approvals control: the one writer of approvals (opened, decided by a person, expired, resolved).

What waits for a person (a deliberation's parked order, an operator workflow's plan) is opened here; it
raises an alert, so it reaches a person and escalates like any alert until it is decided. A person with the
role the approval needs approves or rejects it; nobody deciding before its expiry rejects it (EXPIRED). What
running an approved one did is kept on it (`record_result`). The CLI (`aegis approvals`), the Python API
(`Pipeline.approve` / `reject` / `approvals`) and the workflow call these methods; running what was approved
is not this module's business (the pipeline dispatches by kind).

Decisions that must not be silently changed:
- Opening is idempotent by id (`order:<event id>`, `workflow:<request id>`): asking twice makes one approval
  and pages once.
- An approval is decided once, by a role that allows what it needs (`state.access.require`), with a reason;
  every decision (expiry included) is audited with who, role and why in the same transaction. A decision
  that comes too late (past the expiry) expires it instead and is refused.
- Once decided, its pending alert is acknowledged (the paging stops); an expiry raises an alert of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from state.access import Access, require
from state.alerts import AlertLevel, RaiseAlert
from state.approvals import Approval, ApprovalStatus, decided_as
from state.clock import Clock
from state.events import Cause
from state.store.base import AuditEntry, DurableStore, StoreConflictError

log = logging.getLogger(__name__)

PENDING_ALERT = "approval_pending"
EXPIRED_ALERT = "approval_expired"
EXPIRY_ACTOR = "system"  # who "decides" an expiry
_SWEEP = 1000  # pending approvals read per expiry sweep

Acknowledge = Callable[[str, str], Awaitable[Any]]  # (alert id, by): `Alerting.acknowledge`
Approvals = list[Approval]  # (the control's `list` method shadows the builtin inside the class)


@dataclass(frozen=True, slots=True)
class ExpirySweep:
    expired: Approvals  # expired by this sweep, oldest first
    next_expiry: datetime | None  # when the next pending approval runs out (None: none has an expiry)


class UnknownApprovalError(ValueError):
    """An operation named an approval that does not exist."""


class ApprovalDecidedError(ValueError):
    """A decision on an approval that is no longer pending (decided, or expired); the message says how."""


def alert_key(approval_id: str) -> str:
    """The dedup key of an approval's pending alert: one page per approval."""
    return f"approval:{approval_id}"


class ApprovalControl:
    def __init__(
        self, store: DurableStore, clock: Clock, raise_alert: RaiseAlert, acknowledge: Acknowledge | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._raise_alert = raise_alert
        self._acknowledge = acknowledge
        self.revision = 0  # counts the approvals opened or closed through this control (`aegis.runtime.recheck`)

    # ---- reads -----------------------------------------------------------------------------------------

    async def get(self, approval_id: str) -> Approval:
        approval = await self._store.get_approval(approval_id)
        if approval is None:
            raise UnknownApprovalError(f"no approval {approval_id!r} (aegis approvals list --all shows them)")
        return approval

    async def list(self, status: ApprovalStatus | None = None, limit: int = 100) -> Approvals:
        """Approvals (of one status, or all), newest first."""
        return await self._store.approvals(status, limit)

    async def pending(self) -> Approvals:
        return await self._store.approvals(ApprovalStatus.PENDING, _SWEEP)

    # ---- writes ----------------------------------------------------------------------------------------

    async def open(self, approval: Approval, cause: Cause | None = None) -> Approval:
        """Open a pending approval and page a person; the same id again returns the approval held, unchanged,
        and pages nobody. `cause`: the record that asked (an event), so `aegis trace` shows the alert."""
        audit = AuditEntry(
            approval.requested_by,
            "approval_opened",
            {"approval_id": approval.approval_id, "kind": str(approval.kind), "subject_id": approval.subject_id,
             "needs": str(approval.needs), "summary": approval.summary},
        )  # fmt: skip
        held = await self._store.open_approval(approval, audit)
        self.revision += 1
        if held == approval:
            expiry = f"; expires {approval.expires_at.isoformat()}" if approval.expires_at is not None else ""
            await self._raise_alert(
                AlertLevel.WARNING,
                PENDING_ALERT,
                f"approval {approval.approval_id} waits for a {approval.needs} decision: {approval.summary}{expiry}",
                dedup_key=alert_key(approval.approval_id),
                detail={"approval_id": approval.approval_id, "kind": str(approval.kind), "needs": str(approval.needs)},
                cause=cause,
            )
            log.info("approval %s opened: %s", approval.approval_id, approval.summary)
        return held

    async def decide(self, approval_id: str, *, approved: bool, by: str, role: Access, reason: str) -> Approval:
        """A person's decision: `AccessDeniedError` unless `role` allows what the approval needs,
        `ApprovalDecidedError` unless it is still pending (one that ran past its expiry is expired first)."""
        if not by.strip():
            raise ValueError("a decision must name who decides")
        if not reason.strip():
            raise ValueError("a decision must say why (the reason goes into the audit log)")
        approval = await self.get(approval_id)
        require(role, approval.needs, f"deciding approval {approval_id}")
        now = self._clock.now()
        if approval.expired_at(now):
            expired = await self._expire(approval, now)
            held = expired or await self.get(approval_id)
            raise ApprovalDecidedError(f"approval {approval_id} was already {decided_as(held)}")
        if not approval.pending:
            raise ApprovalDecidedError(f"approval {approval_id} was already {decided_as(approval)}")
        status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
        decided = approval.model_copy(
            update={"status": status, "decided_by": by, "decided_role": role, "decided_at": now, "reason": reason}
        )
        audit = AuditEntry(by, f"approval_{status}", {"approval_id": approval_id, "role": str(role), "reason": reason})
        try:
            await self._store.close_approval(decided, audit)
            self.revision += 1
        except StoreConflictError as exc:  # decided meanwhile by someone else
            raise ApprovalDecidedError(str(exc)) from None
        await self._stop_paging(approval_id, by)
        log.info("approval %s %s by %s (%s): %s", approval_id, status, by, role, reason)
        return decided

    async def record_result(self, approval_id: str, result: dict[str, Any]) -> Approval:
        """Keep what running a decided approval did (the order placed, or why nothing was sent), audited."""
        stored = await self._store.set_approval_result(approval_id, result)
        detail = {"approval_id": approval_id, "result": result}
        await self._store.audit("approvals", "approval_result", detail, self._clock.now())
        return stored

    async def expire_due(self, now: datetime) -> Approvals:
        """Expire every pending approval whose time ran out at `now` (rejected, the reason says the timeout;
        audited, alerted); the ones expired here, oldest first."""
        return (await self.sweep(now)).expired

    async def sweep(self, now: datetime) -> ExpirySweep:
        """`expire_due`, and when the next pending approval runs out."""
        pending = await self.pending()
        due = [a for a in pending if a.expired_at(now)]
        expired: Approvals = []
        for approval in reversed(due):  # the store lists newest first
            done = await self._expire(approval, now)
            if done is not None:
                expired.append(done)
        later = [a.expires_at for a in pending if a.expires_at is not None and not a.expired_at(now)]
        if len(pending) >= _SWEEP:  # a full page: approvals past it may run out sooner, look again at once
            return ExpirySweep(expired, now)
        return ExpirySweep(expired, min(later, default=None))

    async def _expire(self, approval: Approval, now: datetime) -> Approval | None:
        """`approval` expired at `now`; None when someone decided it meanwhile."""
        assert approval.expires_at is not None  # only approvals with an expiry expire
        waited = (approval.expires_at - approval.created_at).total_seconds()
        reason = f"expired: nobody decided within {waited:g} s (by {approval.expires_at.isoformat()}); rejected"
        expired = approval.model_copy(
            update={"status": ApprovalStatus.EXPIRED, "decided_by": EXPIRY_ACTOR, "decided_at": now, "reason": reason}
        )
        audit = AuditEntry(EXPIRY_ACTOR, "approval_expired", {"approval_id": approval.approval_id, "reason": reason})
        try:
            await self._store.close_approval(expired, audit)
            self.revision += 1
        except StoreConflictError:
            return None
        await self._stop_paging(approval.approval_id, EXPIRY_ACTOR)
        await self._raise_alert(
            AlertLevel.WARNING,
            EXPIRED_ALERT,
            f"approval {approval.approval_id} {reason}: {approval.summary}",
            dedup_key=f"{alert_key(approval.approval_id)}:expired",
            detail={"approval_id": approval.approval_id, "kind": str(approval.kind)},
        )
        log.warning("approval %s %s", approval.approval_id, reason)
        return expired

    async def _stop_paging(self, approval_id: str, by: str) -> None:
        """Acknowledge the approval's pending alert: it is decided, nobody needs paging for it any more."""
        if self._acknowledge is None:
            return
        for alert in await self._store.alerts(unacknowledged_only=True, limit=_SWEEP):
            if alert.dedup_key == alert_key(approval_id):
                await self._acknowledge(alert.alert_id, by)
