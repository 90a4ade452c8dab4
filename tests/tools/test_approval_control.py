"""The approvals control on both engines, on a fake clock: opening pages a person once, a decision needs the
role the approval names and comes once (audited with who, role and why), expiry rejects on the clock and
alerts, and a decided approval stops paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from aegis.runtime.alerting import Alerting
from state.access import Access, AccessDeniedError
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id
from state.clock import SimulatedClock
from state.events import Cause
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import T0, Store
from tools.notify import NotifyConfig
from tools.ops.approvals import (
    EXPIRED_ALERT,
    PENDING_ALERT,
    ApprovalControl,
    ApprovalDecidedError,
    UnknownApprovalError,
)

# The contract's fixtures: every test that asks for `store` runs on SQLite and on PostgreSQL.
engine = contract.engine
store = contract.store


@dataclass
class Desk:
    control: ApprovalControl
    alerting: Alerting
    clock: SimulatedClock
    store: Store

    def move(self, seconds: float) -> None:
        self.clock.set(T0 + timedelta(seconds=seconds))


@pytest.fixture
async def desk(store: Store) -> AsyncIterator[Desk]:
    clock = SimulatedClock(T0)
    alerting = Alerting(store, clock, NotifyConfig())
    yield Desk(ApprovalControl(store, clock, alerting.raise_alert, alerting.acknowledge), alerting, clock, store)
    await alerting.drain()


def asked(subject: str = "e1", *, needs: Access = Access.TRADE, timeout_s: float = 3600.0) -> Approval:
    return Approval(
        approval_id=approval_id(ApprovalKind.ORDER, subject),
        kind=ApprovalKind.ORDER,
        subject_id=subject,
        requested_by="deliberation",
        summary="buy 10 AAPL market (notional 1,000.00)",
        needs=needs,
        created_at=T0,
        expires_at=T0 + timedelta(seconds=timeout_s),
    )


async def test_opening_pages_a_person_once_and_twice_is_one_approval(desk: Desk) -> None:
    cause = Cause(correlation_id="root-1", causation_id="e1")
    held = await desk.control.open(asked(), cause)
    again = await desk.control.open(asked().model_copy(update={"summary": "other"}), cause)
    assert held == again == asked()
    pages = [a for a in await desk.store.alerts(limit=100) if a.kind == PENDING_ALERT]
    assert len(pages) == 1 and pages[0].dedup_key == "approval:order:e1"
    assert "order:e1 waits for a trade decision" in pages[0].message and pages[0].correlation_id == "root-1"
    assert [a.approval_id for a in await desk.control.pending()] == ["order:e1"]


async def test_a_role_below_the_one_needed_is_refused_and_nothing_changes(desk: Desk) -> None:
    await desk.control.open(asked(needs=Access.ADMIN))
    with pytest.raises(AccessDeniedError, match="needs the admin role; trade does not allow it"):
        await desk.control.decide("order:e1", approved=True, by="ana", role=Access.TRADE, reason="go")
    with pytest.raises(AccessDeniedError):
        await desk.control.decide("order:e1", approved=False, by="ana", role=Access.READ, reason="no")
    assert (await desk.control.get("order:e1")).pending


async def test_a_decision_is_audited_with_who_role_and_why_and_stops_the_paging(desk: Desk) -> None:
    await desk.control.open(asked())
    desk.move(60)
    decided = await desk.control.decide("order:e1", approved=True, by="ana", role=Access.ADMIN, reason="sized right")
    assert decided.status is ApprovalStatus.APPROVED and decided.decided_by == "ana"
    assert decided.decided_at == T0 + timedelta(seconds=60) and decided.reason == "sized right"
    assert await desk.control.get("order:e1") == decided
    entry = next(e for e in await desk.store.audit_log() if e["action"] == "approval_approved")
    assert entry["actor"] == "ana" and entry["detail"] == {"approval_id": "order:e1", "role": "admin",
                                                           "reason": "sized right"}  # fmt: skip
    assert await desk.store.alerts(unacknowledged_only=True) == []  # decided: nobody is paged for it any more


async def test_a_second_decision_is_refused_naming_the_first(desk: Desk) -> None:
    await desk.control.open(asked())
    await desk.control.decide("order:e1", approved=False, by="ana", role=Access.TRADE, reason="too big")
    with pytest.raises(ApprovalDecidedError, match=r"already rejected by ana at .* \(too big\)"):
        await desk.control.decide("order:e1", approved=True, by="bob", role=Access.ADMIN, reason="go")


async def test_bad_input_is_refused_in_one_line(desk: Desk) -> None:
    with pytest.raises(UnknownApprovalError, match="no approval 'order:nope'"):
        await desk.control.get("order:nope")
    await desk.control.open(asked())
    with pytest.raises(ValueError, match="must say why"):
        await desk.control.decide("order:e1", approved=True, by="ana", role=Access.TRADE, reason=" ")


async def test_expiry_follows_the_clock_rejects_audits_and_alerts(desk: Desk) -> None:
    await desk.control.open(asked("e1", timeout_s=600))
    await desk.control.open(asked("e2", timeout_s=7200))
    desk.move(599)
    assert await desk.control.expire_due(desk.clock.now()) == []
    desk.move(600)
    [expired] = await desk.control.expire_due(desk.clock.now())
    assert expired.approval_id == "order:e1" and expired.status is ApprovalStatus.EXPIRED
    assert expired.decided_by == "system" and "nobody decided within 600 s" in (expired.reason or "")
    assert await desk.control.expire_due(desk.clock.now()) == []  # once
    assert [a.approval_id for a in await desk.control.pending()] == ["order:e2"]
    assert any(e["action"] == "approval_expired" for e in await desk.store.audit_log())
    kinds = [(a.kind, a.acknowledged) for a in await desk.store.alerts(limit=100)]
    assert (EXPIRED_ALERT, False) in kinds and (PENDING_ALERT, True) in kinds


async def test_a_decision_after_the_expiry_expires_it_and_is_refused(desk: Desk) -> None:
    await desk.control.open(asked(timeout_s=60))
    desk.move(61)  # nobody swept yet
    with pytest.raises(ApprovalDecidedError, match="already expired by system"):
        await desk.control.decide("order:e1", approved=True, by="ana", role=Access.TRADE, reason="late")
    assert (await desk.control.get("order:e1")).status is ApprovalStatus.EXPIRED


async def test_a_result_is_kept_and_audited(desk: Desk) -> None:
    await desk.control.open(asked())
    await desk.control.decide("order:e1", approved=True, by="ana", role=Access.TRADE, reason="go")
    kept = await desk.control.record_result("order:e1", {"outcome": "ordered", "order": None})
    assert kept.result == {"outcome": "ordered", "order": None}
    assert any(e["action"] == "approval_result" for e in await desk.store.audit_log())
