"""The SQL of approvals, shared by both durable stores: what waits for a person, and what became of it.

This module owns the stored form of an `Approval` (one row per approval id, the whole record as JSON beside
the columns the listings filter on), written with its audit entry in one transaction. Like `sql_store`, it is
written once with `?` placeholders; an engine supplies the connection and the writers' turns.

Decisions that must not be silently changed:
- An approval is opened once: a second open of the same id returns the stored one, unchanged (a redelivered
  event, a workflow resumed after a restart, never make a second approval or reset a decided one).
- An approval is decided once: `close_approval` changes a *pending* row only, checked inside the
  transaction under the approvals' writer turn, so two people deciding at once cannot both win: the second
  gets `StoreConflictError` naming how it was decided.
"""

from __future__ import annotations

from typing import Any

from state.approvals import Approval, ApprovalStatus, decided_as
from state.store.base import AuditEntry, InvalidRecordError, RecordNotFoundError, StoreConflictError
from state.store.record_chain import stream_named
from state.store.rows import json_text, parse, ts
from state.store.sql_record_chain import SqlRecordChain

_APPROVALS = stream_named("approvals")


def _row(approval: Approval) -> tuple[Any, ...]:
    """(approval_id, kind, subject_id, status, created_at, expires_at, record)."""
    expires = ts(approval.expires_at) if approval.expires_at is not None else None
    record = approval.model_dump_json()
    json_text(approval.detail)  # refuses what JSON cannot hold (a non-finite figure) before anything is written
    return (approval.approval_id, str(approval.kind), approval.subject_id, str(approval.status),
            ts(approval.created_at), expires, record)  # fmt: skip


def _approval(row: tuple[Any, ...]) -> Approval:
    return parse("approval", row[0], Approval.model_validate_json, row[1])


class SqlApprovals(SqlRecordChain):
    async def open_approval(self, approval: Approval, audit: AuditEntry) -> Approval:
        if not approval.pending:
            raise InvalidRecordError(f"approval {approval.approval_id} must be opened pending, not {approval.status}")
        row = _row(approval)
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "approvals")
            held = await db.fetch_one("SELECT approval_id, record FROM approvals WHERE approval_id = ?", (row[0],))
            if held is not None:
                return _approval(held)
            await db.execute(
                "INSERT INTO approvals (approval_id, kind, subject_id, status, created_at, expires_at, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            await self._link(db, _APPROVALS, (row[0],))
            await self._insert_audit(db, (audit,), approval.created_at)
        return approval

    async def get_approval(self, approval_id: str) -> Approval | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT approval_id, record FROM approvals WHERE approval_id = ?", (approval_id,))
        return None if row is None else _approval(row)

    async def approvals(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[Approval]:
        if limit <= 0:
            return []
        where, params = ("WHERE status = ? ", (str(status),)) if status is not None else ("", ())
        async with self._use() as db:
            rows = await db.fetch_all(
                f"SELECT approval_id, record FROM approvals {where}ORDER BY created_at DESC, approval_id DESC LIMIT ?",
                (*params, limit),
            )
        return [_approval(row) for row in rows]

    async def close_approval(self, approval: Approval, audit: AuditEntry) -> None:
        if approval.pending or approval.decided_at is None:
            raise InvalidRecordError(f"approval {approval.approval_id}: a decision needs a decided status and time")
        row = _row(approval)
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "approvals")
            held = await db.fetch_one("SELECT approval_id, record FROM approvals WHERE approval_id = ?", (row[0],))
            if held is None:
                raise RecordNotFoundError(f"no approval {approval.approval_id}")
            stored = _approval(held)
            if not stored.pending:
                raise StoreConflictError(f"approval {approval.approval_id} was already {decided_as(stored)}")
            await db.execute(
                "UPDATE approvals SET status = ?, record = ? WHERE approval_id = ? AND status = ?",
                (row[3], row[6], row[0], str(ApprovalStatus.PENDING)),
            )
            await self._link(db, _APPROVALS, (row[0],))
            await self._insert_audit(db, (audit,), approval.decided_at)

    async def set_approval_result(self, approval_id: str, result: dict[str, Any]) -> Approval:
        json_text(result)  # refuses what JSON cannot hold before anything is written
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "approvals")
            held = await db.fetch_one("SELECT approval_id, record FROM approvals WHERE approval_id = ?", (approval_id,))
            if held is None:
                raise RecordNotFoundError(f"no approval {approval_id}")
            stored = _approval(held)
            if stored.pending:
                raise StoreConflictError(f"approval {approval_id} is still pending: it has no result yet")
            updated = stored.model_copy(update={"result": result})
            await db.execute(
                "UPDATE approvals SET record = ? WHERE approval_id = ?", (updated.model_dump_json(), approval_id)
            )
            await self._link(db, _APPROVALS, (approval_id,))
        return updated
