"""`aegis limits`: shown, tightened, loosened only with --role admin, reset; every refusal one line and exit 2,
writing nothing; the change reaches a pipeline opened afterwards on the same records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app
from aegis.ops_status import status
from quant.risk_guard import RiskLimits
from state.access import Access
from state.clock import SimulatedClock

T0 = datetime(2016, 3, 1, 21, 0, tzinfo=UTC)


def _aegis(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "records")])
    return result.exit_code, result.output


async def _in_records(data_dir: Path) -> tuple[RiskLimits, RiskLimits, list[dict[str, Any]]]:
    """What a process opened on the records sees: the control's limits, a session's, the audit entries."""
    async with await Pipeline.open(Settings(data_dir=data_dir, checkpoints=False)) as pipeline:
        context = await pipeline.services.loader.load(None)
        audit = [e for e in await pipeline.services.store.audit_log(100) if e["action"].startswith("risk_limit_")]
        return await pipeline.limits.current(), context.risk_limits, audit


@pytest.fixture
def records(tmp_path: Path) -> Path:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "records.sqlite").touch()  # a records folder: the store migrates it on open
    return tmp_path


def test_tighten_loosen_with_admin_and_reset_through_the_cli(records: Path) -> None:
    code, shown = _aegis(records, "limits", "show")
    assert code == 0, shown
    assert shown.splitlines() == [
        "limit                     in force   setting  last change",
        "daily_loss_limit_pct           3 %       3 %  never changed",
        "max_concentration_pct         20 %      20 %  never changed",
        "max_gross_exposure_pct       100 %     100 %  never changed",
        "price_band_pct                10 %      10 %  never changed",
    ]

    tighten = ("limits", "set", "daily_loss_limit_pct", "2", "--reason", "rough week", "--actor", "ana")
    code, said = _aegis(records, *tighten)
    assert code == 0, said
    assert said.startswith("daily_loss_limit_pct 3 % -> 2 % by ana (trade) at ") and said.rstrip().endswith(
        ": rough week"
    )
    limits, session, audit = asyncio.run(_in_records(records / "records"))
    assert limits == session == RiskLimits(daily_loss_limit_pct=2.0)  # the next process's sessions take it
    assert [(e["actor"], e["action"], e["detail"]["to"]) for e in audit] == [("ana", "risk_limit_set", 2.0)]

    code, shown = _aegis(records, "limits", "show")
    row = next(line for line in shown.splitlines() if line.startswith("daily_loss_limit_pct"))
    assert row.startswith("daily_loss_limit_pct           2 %       3 %  set by ana (trade) at ")
    assert row.endswith(": rough week")

    code, said = _aegis(records, "limits", "set", "daily_loss_limit_pct", "4", "--reason", "lead", "--role", "admin")
    assert code == 0 and "daily_loss_limit_pct 2 % -> 4 % by " in said and "(admin)" in said, said

    code, said = _aegis(records, "limits", "reset", "daily_loss_limit_pct", "--reason", "the setting", "--actor", "ana")
    assert code == 0 and said.startswith("daily_loss_limit_pct 4 % -> 3 % by ana (trade) at "), said  # tightens
    code, said = _aegis(records, "limits", "reset", "daily_loss_limit_pct", "--reason", "again")
    assert code == 0 and said.strip() == "daily_loss_limit_pct stays 3 %: already in force"

    limits, session, audit = asyncio.run(_in_records(records / "records"))
    assert limits == session == RiskLimits()
    assert [e["action"] for e in audit] == ["risk_limit_reset", "risk_limit_set", "risk_limit_set"]  # newest first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "daily_loss_limit_pct", "4", "--reason", "x"], "needs the admin role; trade does not allow it"),
        (["set", "daily_loss_limit_pct", "4", "--reason", "x", "--role", "root"], "'root' is not a role here"),
        (["set", "daily_loss_limit_pct", "4", "--reason", "x", "--role", "read"], "'read' is not a role here"),
        (["set", "fee_buffer_pct", "1", "--reason", "x"], "unknown risk limit 'fee_buffer_pct' (limits: "),
        (["set", "price_band_pct", "0", "--reason", "x"], "price_band_pct must be a positive finite percent"),
        (["set", "price_band_pct", "nan", "--reason", "x"], "must be a finite number of percent, got nan"),
        (["set", "price_band_pct", "two", "--reason", "x"], "for 'VALUE': Input should be a valid number"),
        (["set", "price_band_pct", "5", "--reason", " "], "--reason must say why"),
        (["reset", "max_reference_age_s", "--reason", "x"], "unknown risk limit 'max_reference_age_s'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(records: Path, args: list[str], message: str) -> None:
    code, output = _aegis(records, "limits", *args)
    assert code == 2, output
    assert message in output and len(output.strip().splitlines()) == 1 and "Traceback" not in output
    limits, _, audit = asyncio.run(_in_records(records / "records"))
    assert limits == RiskLimits() and audit == []  # nothing written


async def test_a_running_embedded_pipeline_takes_a_cli_change_at_its_feed_next_step(
    records: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded hot store lives in the running process: the CLI (another process) cannot write it, so the
    running feed rebuilds the sessions' copy from the durable changes as its time moves (at its first step
    a moment of wall time after the last read: `aegis.runtime.recheck`)."""
    monkeypatch.setattr("aegis.runtime.recheck.RECHECK_S", 0.0)  # the CLI may finish within the moment
    clock = SimulatedClock(T0)
    settings = Settings(data_dir=records / "records", checkpoints=False)
    async with await Pipeline.open(settings, clock=clock) as running:
        feed = running.market_feed(detect=False)
        await feed.advance(T0)
        code, said = await asyncio.to_thread(
            _aegis, records, "limits", "set", "price_band_pct", "4", "--reason", "tight band", "--actor", "ana"
        )
        assert code == 0, said
        assert (await running.services.loader.load(None)).risk_limits == RiskLimits()  # not yet: its own copy
        await feed.advance(T0 + timedelta(minutes=1))
        assert (await running.services.loader.load(None)).risk_limits == RiskLimits(price_band_pct=4.0)


async def test_the_status_measures_the_book_against_the_limits_in_force(records: Path) -> None:
    async with await Pipeline.open(Settings(data_dir=records / "records", checkpoints=False)) as pipeline:
        await pipeline.limits.set("max_gross_exposure_pct", 50.0, actor="ana", reason="half", role=Access.TRADE)
        await pipeline.limits.set("daily_loss_limit_pct", 1.5, actor="ana", reason="rough week", role=Access.TRADE)
        shown = {use.name: use.limit for use in (await status(pipeline)).limits}
    assert shown["gross exposure, filled + pending"] == 50.0 and shown["daily loss"] == 1.5
    assert shown["largest symbol, filled + pending"] == 20.0  # the setting: not overridden
