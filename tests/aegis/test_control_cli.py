"""`aegis halt`, `aegis status`, `aegis resume` and `aegis alerts` on the embedded store, as an operator runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app
from state.alerts import AlertLevel


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_halt_status_resume(data_dir: Path) -> None:
    code, out = run("halt", "--reason", "manual drill", "--actor", "ana")
    assert code == 0 and "HALTED account: manual drill; 0 open orders cancelled" in out
    code, out = run("status")
    assert code == 0
    assert "trading  account: HALTED" in out and "manual drill, by ana" in out
    assert "largest symbol, filled + pending" in out and "symbols held or pending" in out
    code, out = run("resume", "--reason", "drill over", "--actor", "ana")
    assert code == 0 and "ACTIVE account: drill over" in out
    assert "trading  account: ACTIVE" in run("status")[1]


def test_a_halt_that_needs_a_reset_is_refused_without_one(data_dir: Path) -> None:
    async def breach() -> None:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            await pipeline.trading.halt(reason="capital down 5 %", actor="tier:losses", needs_reset=True)

    asyncio.run(breach())
    code, out = run("resume", "--reason", "looks fine")
    assert code == 1 and "refused" in out and "--reset" in out
    code, out = run("resume", "--reason", "checked the book", "--reset")
    assert code == 0 and "ACTIVE account" in out


def test_alerts_list_and_ack(data_dir: Path) -> None:
    async def raise_one() -> str:
        async with await Pipeline.open(Settings(checkpoints=False)) as pipeline:
            alert, _ = await pipeline.alerting.raise_alert(AlertLevel.WARNING, "position_down", "AAPL down 2.1 %")
            return alert.alert_id

    alert_id = asyncio.run(raise_one())
    code, out = run("alerts", "list")
    assert code == 0 and alert_id in out and "WARNING" in out and "AAPL down 2.1 %" in out
    code, out = run("alerts", "ack", alert_id, "--actor", "ben")
    assert code == 0 and f"acknowledged {alert_id}" in out
    assert "no unacknowledged alerts" in run("alerts", "list")[1]
    assert run("alerts", "ack", "alert-nope")[0] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("halt",), "Missing option '--reason'"),
        (("halt", "--reason", "  "), "--reason must say why"),
        (("resume", "--reason", ""), "--reason must say why"),
        (("drill", "meteor-strike"), "Invalid value"),
        (("alerts", "ack"), "Missing argument"),
    ],
)
def test_bad_operator_input_gets_one_clear_error_and_changes_nothing(
    data_dir: Path, args: tuple[str, ...], message: str
) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "trading  account: ACTIVE" in run("status")[1]
