"""`aegis approvals list|approve|reject` on the embedded store, as an operator runs them: the list's columns,
a decision with its name, role and reason, and one-line refusals (role too low, decided already, unknown)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app
from aegis.cli.approvals import duration
from state.access import Access
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id
from tests.conftest import SESSION_DAY, bundled_bars, signal


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def park(kind: ApprovalKind, subject: str, *, needs: Access = Access.TRADE, age_min: int = 5) -> None:
    """An approval opened `age_min` minutes ago (an order's holds a real event and commander order)."""
    now = datetime.now(UTC)
    detail = {}
    if kind is ApprovalKind.ORDER:
        event = signal(subject, bundled_bars()[SESSION_DAY])
        command = {"action": "buy", "size_pct": 2.0, "order_type": "market", "rationale": "enter"}
        detail = {"event": event, "command": command}
    approval = Approval(
        approval_id=approval_id(kind, subject), kind=kind, subject_id=subject, requested_by="sena",
        summary=f"the {kind} {subject}", needs=needs, detail=detail, created_at=now - timedelta(minutes=age_min),
        expires_at=now + timedelta(minutes=55),
    )  # fmt: skip

    async def opened() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            await pipeline.approval_control.open(approval)

    asyncio.run(opened())


def test_list_shows_what_waits_with_who_asked_its_age_and_expiry(data_dir: Path) -> None:
    assert run("approvals", "list") == (0, "nothing waits for approval\n")
    park(ApprovalKind.WORKFLOW, "r1", age_min=5)
    code, out = run("approvals", "list")
    assert code == 0
    assert out.startswith("workflow:r1  workflow  PENDING  asked by sena 5m ago, expires in 5")
    assert out.rstrip().endswith("the workflow r1")


def test_reject_then_a_second_decision_is_refused_in_one_line(data_dir: Path) -> None:
    park(ApprovalKind.WORKFLOW, "r1")
    code, out = run("approvals", "reject", "workflow:r1", "--reason", "not today", "--as", "ana")
    assert (code, out) == (0, "rejected workflow:r1 by ana (not today); nothing runs\n")
    code, out = run("approvals", "approve", "workflow:r1", "--reason", "go", "--as", "bob", "--role", "admin")
    assert code == 2 and out.count("\n") == 1 and "already rejected by ana" in out
    assert run("approvals", "list")[1] == "nothing waits for approval\n"
    code, out = run("approvals", "list", "--all")
    assert code == 0 and "REJECTED" in out and "rejected by ana" in out


def test_a_role_too_low_is_refused_and_an_approved_order_says_what_it_sent(data_dir: Path) -> None:
    park(ApprovalKind.ORDER, "e1", needs=Access.ADMIN)
    code, out = run("approvals", "approve", "order:e1", "--reason", "go", "--role", "trade")
    assert code == 2 and out.count("\n") == 1 and "needs the admin role; trade does not allow it" in out
    code, out = run("approvals", "approve", "order:e1", "--reason", "go", "--as", "ana", "--role", "admin")
    # The store holds no price for the symbol: the guard refuses, and nothing is sent.
    assert code == 0 and out.startswith("approved order:e1 by ana (go); nothing sent: blocked: risk guard:")

    async def status() -> ApprovalStatus:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            return (await pipeline.approval_control.get("order:e1")).status

    assert asyncio.run(status()) is ApprovalStatus.APPROVED


def test_unknown_ids_bad_roles_and_empty_reasons_are_refused(data_dir: Path) -> None:
    code, out = run("approvals", "approve", "order:nope", "--reason", "go")
    assert code == 2 and "no approval 'order:nope'" in out
    code, out = run("approvals", "approve", "order:nope", "--reason", "go", "--role", "root")
    assert code == 2 and "root" in out
    code, out = run("approvals", "reject", "order:nope", "--reason", " ")
    assert code == 2 and "--reason must say why" in out


def test_durations_read_short() -> None:
    assert [duration(s) for s in (-3, 45, 720, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "0s", "45s", "12m", "3h 05m", "2d 04h"
    ]  # fmt: skip
