"""`aegis approvals list|approve|reject`: what waits for a person, and a person's decision on it.

They work on the durable store the settings name, like `aegis halt`, so an approval parked by a running
worker can be decided from another shell. Approving an order runs the risk guard and execute again against
the account of that moment (`Pipeline.approve`); the result is printed and kept on the approval. A refused
decision (a role too low, an approval decided or expired already, an unknown id) is one line, exit 2.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console

from aegis.cli.bots import DataDir, on_records
from aegis.cli.control import operator_name, require_reason
from aegis.pipeline import Pipeline
from state.access import Access
from state.approvals import Approval, ApprovalKind, ApprovalStatus

app = typer.Typer(no_args_is_help=True, help="Approvals: what waits for a person; approve or reject it")
console = Console(soft_wrap=True, highlight=False, markup=False)  # summaries hold [brackets]

_AS = typer.Option(None, "--as", help="Who decides (default: the login name); goes into the audit log")
_ROLE = typer.Option(Access.TRADE, "--role", case_sensitive=False, help="The role you decide with")
_REASON = typer.Option(..., "--reason", help="Why: recorded in the audit log")


def duration(seconds: float) -> str:
    """A short human duration: 45s, 12m, 3h 05m, 2d 04h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes}m"
    if seconds < 86400:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{days}d {hours % 24:02d}h"


def line(approval: Approval, now: datetime) -> str:
    """One approval as the list shows it: id, kind, status, who asked, age, expiry, summary."""
    if approval.expires_at is None:
        expiry = "no expiry"
    elif approval.pending:
        expiry = f"expires in {duration((approval.expires_at - now).total_seconds())}"
    else:
        expiry = f"{approval.status} by {approval.decided_by or 'nobody'}"
    age = duration((now - approval.created_at).total_seconds())
    return (
        f"{approval.approval_id}  {approval.kind}  {approval.status.upper()}  asked by {approval.requested_by} "
        f"{age} ago, {expiry}: {approval.summary}"
    )


def outcome(approval: Approval) -> str:
    """What deciding it did, in one line."""
    head = f"{approval.status} {approval.approval_id} by {approval.decided_by} ({approval.reason})"
    result = approval.result
    if result is None:
        return f"{head}; nothing runs"
    if approval.kind is ApprovalKind.WORKFLOW:
        ran = "the plan ran" if approval.status is ApprovalStatus.APPROVED else "nothing ran"
        review = f" RUNE: {result['review']}" if result.get("review") else ""
        return f"{head}; {ran}: {result.get('outcome')}: {result.get('reason')}{review}"
    order = result.get("order")
    if isinstance(order, dict):
        request = order.get("request", {})
        placed = (
            f"{request.get('side')} {request.get('quantity'):g} {request.get('symbol')} ({request.get('order_type')})"
        )
        return f"{head}; {result.get('outcome')}: {placed}, order {order.get('order_id')}"
    return f"{head}; nothing sent: {result.get('outcome')}: {result.get('reason')}"


@app.command("list")
def list_approvals(
    all_: bool = typer.Option(False, "--all", help="Decided and expired ones too"), data_dir: DataDir = None
) -> None:
    """Approvals, newest first (pending only unless --all); the ones whose time ran out expire first."""

    async def listed(pipeline: Pipeline) -> tuple[list[Approval], datetime]:
        return await pipeline.approvals(None if all_ else ApprovalStatus.PENDING), pipeline.services.clock.now()

    found, now = on_records(data_dir, listed)
    if not found:
        console.print("no approvals" if all_ else "nothing waits for approval")
    for approval in found:
        console.print(line(approval, now))


@app.command("approve")
def approve(
    approval_id: str, reason: str = _REASON, as_: str | None = _AS, role: Access = _ROLE, data_dir: DataDir = None
) -> None:
    """Approve: an order is guarded and executed again against the account as it is now; a workflow's plan runs."""
    require_reason(reason)
    by = as_ or operator_name()
    console.print(outcome(on_records(data_dir, lambda p: p.approve(approval_id, by=by, role=role, reason=reason))))


@app.command("reject")
def reject(
    approval_id: str, reason: str = _REASON, as_: str | None = _AS, role: Access = _ROLE, data_dir: DataDir = None
) -> None:
    """Reject: recorded and audited; nothing runs."""
    require_reason(reason)
    by = as_ or operator_name()
    console.print(outcome(on_records(data_dir, lambda p: p.reject(approval_id, by=by, role=role, reason=reason))))
