"""`aegis ask`: a read-only request answered, a change approved at the prompt or left pending for `aegis
approvals`, a request beyond the role rejected; the plan, Lubit's verdict and RUNE's review printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis.cli import app


def _aegis(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "records")], input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def records(tmp_path: Path) -> Path:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "records.sqlite").touch()  # a records folder: the store migrates it on open
    return tmp_path


def test_a_read_only_request_prints_its_plan_results_and_review(records: Path) -> None:
    code, out = _aegis(records, "ask", "show the p&l", "--as", "ana")
    assert code == 0, out
    assert "Sena's plan" in out and "s1 pnl.show {} [read]" in out
    assert "Lubit: approve" in out
    assert "outcome: answered: s1 pnl.show: equity 100,000.00" in out
    assert "RUNE: pass" in out and "ok   transparency" in out and "ok   autonomy: nothing changed" in out


def test_a_change_approved_with_the_flag_runs_and_one_left_pending_is_approved_later(records: Path) -> None:
    code, out = _aegis(records, "ask", "halt trading on AAPL", "--as", "ana", "--role", "trade", "--approve",
                       "--reason", "earnings tonight")  # fmt: skip
    assert code == 0, out
    assert "approval: awaiting approval workflow:" in out
    assert "approval: approved by ana (trade): earnings tonight" in out
    assert "s1 trading.halt ok (1 tries): trading halted (AAPL)" in out and "RUNE: pass" in out

    code, out = _aegis(records, "ask", "resume trading on AAPL", "--as", "ana", "--role", "admin")
    assert code == 0, out
    assert "outcome: awaiting_approval" in out  # no terminal to ask in: left pending
    pending = out.split("aegis approvals approve|reject ")[1].split()[0]
    code, listed = _aegis(records, "approvals", "list")
    assert code == 0 and pending in listed, listed
    code, approved = _aegis(records, "approvals", "approve", pending, "--as", "root", "--role", "admin",
                            "--reason", "earnings out")  # fmt: skip
    assert code == 0, approved
    code, record = _aegis(records, "ask", "show the positions", "--json")
    assert code == 0 and json.loads(record)["outcome"] == "answered"


def test_a_request_beyond_the_role_is_rejected(records: Path) -> None:
    code, out = _aegis(records, "ask", "halt trading", "--as", "eve")
    assert code == 0, out
    assert "Lubit: reject: s1: trading.halt needs the trade role; the requester has read" in out
    assert "outcome: blocked" in out


def test_a_request_the_grammar_does_not_know_says_what_it_understands(records: Path) -> None:
    code, out = _aegis(records, "ask", "make me rich", "--as", "eve")
    assert code == 0, out
    assert "unsupported:" in out and "outcome: blocked" in out


def test_a_role_that_does_not_exist_is_one_line_and_exit_2(records: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "halt trading", "--role", "root", "--data-dir",
                                      str(records / "records")])  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'root' is not one of" in result.output
