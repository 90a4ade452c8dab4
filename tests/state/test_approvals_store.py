"""Approvals in the durable store (migration 0008), on SQLite and on PostgreSQL: opened once, decided once
(a second decision is a conflict naming the first), listed newest first by status, kept across a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from state.access import Access
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id
from state.store.base import AuditEntry, InvalidRecordError, RecordNotFoundError, StoreConflictError
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import Engine, Store, at

# The contract's fixtures: every test that asks for `engine` or `store` runs on SQLite and on PostgreSQL.
engine = contract.engine
store = contract.store


def pending(subject: str, minute: int = 0, *, kind: ApprovalKind = ApprovalKind.ORDER) -> Approval:
    return Approval(
        approval_id=approval_id(kind, subject),
        kind=kind,
        subject_id=subject,
        requested_by="deliberation",
        summary=f"buy 10 AAPL market for {subject}",
        needs=Access.TRADE,
        detail={"event": {"id": subject}, "guarded_order": {"quantity": 10.0}},
        created_at=at(minute),
        expires_at=at(minute + 60),
    )


def decided(approval: Approval, status: ApprovalStatus, by: str, minute: int, reason: str) -> Approval:
    return approval.model_copy(update={"status": status, "decided_by": by, "decided_at": at(minute), "reason": reason})


OPENED = AuditEntry("deliberation", "approval_opened", {"approval_id": "order:e1"})


async def test_opening_twice_keeps_one_approval_unchanged(store: Store) -> None:
    first = pending("e1")
    assert await store.open_approval(first, OPENED) == first
    again = pending("e1", minute=5).model_copy(update={"summary": "other"})
    assert await store.open_approval(again, OPENED) == first
    assert await store.approvals() == [first]
    assert await store.get_approval("order:e1") == first
    assert [e["action"] for e in await store.audit_log()] == ["approval_opened"]  # the second open wrote nothing


async def test_two_opens_at_once_make_one_approval(store: Store) -> None:
    made = [pending("e1", minute=m) for m in range(6)]
    held = await asyncio.gather(*(store.open_approval(a, OPENED) for a in made))
    assert all(h == held[0] for h in held) and held[0] in made
    assert len(await store.approvals()) == 1


async def test_an_approval_is_decided_once_and_a_second_decision_names_the_first(store: Store) -> None:
    await store.open_approval(pending("e1"), OPENED)
    yes = decided(pending("e1"), ApprovalStatus.APPROVED, "ana", 3, "looks right")
    await store.close_approval(yes, AuditEntry("ana", "approval_approved", {"approval_id": "order:e1"}))
    no = decided(pending("e1"), ApprovalStatus.REJECTED, "bob", 4, "too big")
    first = r"already approved by ana at 2017-03-01T21:03:00\+00:00 \(looks right\)"
    with pytest.raises(StoreConflictError, match=first):
        await store.close_approval(no, AuditEntry("bob", "approval_rejected", {}))
    assert await store.get_approval("order:e1") == yes
    assert [e["actor"] for e in await store.audit_log()] == ["ana", "deliberation"]


async def test_two_people_deciding_at_once_one_wins(store: Store) -> None:
    await store.open_approval(pending("e1"), OPENED)
    tries = [decided(pending("e1"), ApprovalStatus.APPROVED, f"p{n}", 2, "go") for n in range(5)]
    ended = await asyncio.gather(
        *(store.close_approval(a, AuditEntry(a.decided_by or "", "approval_approved", {})) for a in tries),
        return_exceptions=True,
    )
    assert sum(e is None for e in ended) == 1
    assert all(isinstance(e, StoreConflictError) for e in ended if e is not None)


async def test_deciding_an_unknown_approval_or_writing_a_pending_one_is_refused(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        await store.close_approval(decided(pending("nope"), ApprovalStatus.REJECTED, "ana", 1, "x"), OPENED)
    with pytest.raises(InvalidRecordError):
        await store.close_approval(pending("e1"), OPENED)
    with pytest.raises(InvalidRecordError):
        await store.open_approval(decided(pending("e1"), ApprovalStatus.APPROVED, "ana", 1, "x"), OPENED)
    assert await store.approvals() == []


async def test_listing_filters_by_status_newest_first(store: Store) -> None:
    for n in range(3):
        await store.open_approval(pending(f"e{n}", minute=n), OPENED)
    await store.close_approval(decided(pending("e1", 1), ApprovalStatus.EXPIRED, "system", 61, "timeout"), OPENED)
    assert [a.approval_id for a in await store.approvals()] == ["order:e2", "order:e1", "order:e0"]
    assert [a.approval_id for a in await store.approvals(ApprovalStatus.PENDING)] == ["order:e2", "order:e0"]
    assert [a.approval_id for a in await store.approvals(ApprovalStatus.EXPIRED)] == ["order:e1"]
    assert [a.approval_id for a in await store.approvals(limit=1)] == ["order:e2"]


async def test_a_result_is_kept_on_a_decided_approval_only(store: Store) -> None:
    await store.open_approval(pending("e1"), OPENED)
    with pytest.raises(StoreConflictError, match="still pending"):
        await store.set_approval_result("order:e1", {"outcome": "ordered"})
    with pytest.raises(RecordNotFoundError):
        await store.set_approval_result("order:nope", {"outcome": "ordered"})
    await store.close_approval(decided(pending("e1"), ApprovalStatus.APPROVED, "ana", 2, "go"), OPENED)
    stored = await store.set_approval_result("order:e1", {"outcome": "ordered", "order_id": "ord-e1"})
    assert stored.result == {"outcome": "ordered", "order_id": "ord-e1"}
    assert await store.get_approval("order:e1") == stored


async def test_a_restart_keeps_the_approvals_and_their_decisions(engine: Engine) -> None:
    first = engine.make()
    await first.open()
    await first.open_approval(pending("e1"), OPENED)
    await first.open_approval(pending("w1", kind=ApprovalKind.WORKFLOW), OPENED)
    no = decided(pending("e1"), ApprovalStatus.REJECTED, "ana", 2, "not now")
    await first.close_approval(no, OPENED)
    await first.close()
    second = engine.make()
    await second.open()
    try:
        assert await second.get_approval("order:e1") == no
        workflow = await second.get_approval("workflow:w1")
        assert workflow is not None and workflow.kind is ApprovalKind.WORKFLOW and workflow.pending
        assert workflow.expires_at == at(0) + timedelta(minutes=60)
    finally:
        await second.close()
