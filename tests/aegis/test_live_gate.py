"""The paper-to-live gate: each criterion measured on a stored paper record, `aegis live check` exits 0 only when
all are met, enabling is audited with its approver, and mode live refuses to start without it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app
from aegis.runtime.daily_ops import DAY_CLOSED
from aegis.runtime.live_gate import (
    LiveGateClosedError,
    LiveGateNotMetError,
    check_live_gate,
    enable_live,
    require_live_gate,
)
from aegis.runtime.live_gate_config import LiveGateConfig
from aegis.runtime.paper_record import read_paper_record
from state.clock import SimulatedClock
from state.context import OperatingMode
from state.decisions import DecisionRecord, Outcome
from state.orders import Fill, FillReason, Side
from state.store.base import DurableStore
from state.store.factory import open_store

T0 = datetime(2026, 1, 5, 20, tzinfo=UTC)
CASH = 100_000.0
REASON = {Side.BUY: FillReason.ENTRY, Side.SELL: FillReason.EXIT}


def _decision(event_id: str, outcome: Outcome, at: datetime, mode: str = "paper") -> DecisionRecord:
    return DecisionRecord(event_id=event_id, event_type="SIGNAL_GENERATED", outcome=outcome, reason=str(outcome),
                          decided_at=at, mode=mode)  # fmt: skip


async def _write_record(store: DurableStore, pnls: list[float], *, failed: int = 0, equity_dip: float = 0.0) -> None:
    """One trading day per trade: an ordered paper decision, a buy and the next day's sell that makes `pnl`
    (USD); the day closes with the equity to date (less `equity_dip` on the middle day); `failed` more
    decisions whose execution failed."""
    equity = CASH
    for n, pnl in enumerate(pnls):
        day = T0 + timedelta(days=n)
        await store.save_decision(_decision(f"e{n}", Outcome.ORDERED, day))
        for side, price, at in ((Side.BUY, 100.0, day), (Side.SELL, 100.0 + pnl / 10.0, day + timedelta(hours=1))):
            await store.save_fill(
                Fill(
                    fill_id=f"f{n}-{side}",
                    order_id=f"o{n}-{side}",
                    event_id=f"e{n}",
                    symbol="XYZ",
                    side=side,
                    quantity=10.0,
                    price=price,
                    fee=0.0,
                    reason=REASON[side],
                    time=at,
                )
            )
        equity += pnl
        shown = equity - (equity_dip if n == len(pnls) // 2 else 0.0)
        await store.audit("daily_operations", DAY_CLOSED, {"day": day.date().isoformat(), "equity": shown}, day)
    for n in range(failed):
        await store.save_decision(_decision(f"x{n}", Outcome.EXECUTION_FAILED, T0))
    # A decision of live mode is not part of the paper record.
    await store.save_decision(_decision("live-1", Outcome.EXECUTION_FAILED, T0, mode="live"))


async def _criteria(tmp_path: Path, pnls: list[float], **record: float) -> dict[str, bool]:
    store = await open_store(None, tmp_path / "records.sqlite", SimulatedClock(T0))
    try:
        await _write_record(store, pnls, **record)  # type: ignore[arg-type]
        paper = await read_paper_record(store, CASH)
    finally:
        await store.close()
    return {c.name: c.met for c in check_live_gate(paper, LiveGateConfig())}


async def test_a_record_with_a_clear_edge_meets_every_criterion(tmp_path: Path) -> None:
    assert await _criteria(tmp_path, [100.0] * 120) == dict.fromkeys(
        ("days", "orders", "execution_success", "max_drawdown", "pnl_vs_control"), True
    )


async def test_each_criterion_fails_on_its_own(tmp_path: Path) -> None:
    short = await _criteria(tmp_path / "short", [100.0] * 50)  # 50 days, 50 orders
    assert short == {
        "days": False,
        "orders": False,
        "execution_success": True,
        "max_drawdown": True,
        "pnl_vs_control": True,
    }
    failing = await _criteria(tmp_path / "failing", [100.0] * 120, failed=1)  # 120 of 121: 99.17 %
    assert [name for name, met in failing.items() if not met] == ["execution_success"]
    dipped = await _criteria(tmp_path / "dipped", [100.0] * 120, equity_dip=CASH * 0.2)
    assert [name for name, met in dipped.items() if not met] == ["max_drawdown"]
    # No edge: winners and losers of the same size at random; the control's band covers it.
    coin = np.random.default_rng(3).choice([-100.0, 100.0], size=120)
    chance = await _criteria(tmp_path / "chance", [float(p) for p in coin])
    assert [name for name, met in chance.items() if not met] == ["pnl_vs_control"]


async def test_an_empty_record_fails_closed(tmp_path: Path) -> None:
    assert not any((await _criteria(tmp_path, [])).values())


def _aegis(records: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(records)])
    return result.exit_code, result.output


async def _open_live(records: Path) -> None:
    settings = Settings(data_dir=records, checkpoints=False, mode=OperatingMode.LIVE)
    async with await Pipeline.open(settings):
        pass


def test_check_enable_and_start_in_live_mode_in_sequence(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()

    async def write(pnls: list[float]) -> None:
        store = await open_store(None, records / "records.sqlite", SimulatedClock(T0))
        try:
            await _write_record(store, pnls)
        finally:
            await store.close()

    asyncio.run(write([100.0] * 50))
    code, out = _aegis(records, "live", "check")
    assert code == 1 and "NOT MET  days" in out and "3 of 5 criteria met: closed" in out, out
    code, out = _aegis(records, "live", "enable", "--approver", "J. Kim", "--reason", "too early")
    assert code == 1 and "not met (days, orders)" in out, out
    with pytest.raises(LiveGateClosedError, match="aegis live enable --approver"):
        asyncio.run(_open_live(records))

    asyncio.run(write([100.0] * 120))  # the same events again (kept once) and 70 more days
    code, out = _aegis(records, "live", "check")
    assert code == 0 and "5 of 5 criteria met: the gate is open" in out, out
    code, out = _aegis(records, "live", "enable", "--approver", "J. Kim", "--reason", "four months of paper")
    assert code == 0 and "approved by J. Kim" in out, out
    asyncio.run(_open_live(records))  # starts

    code, out = _aegis(records, "live", "disable", "--reason", "back to paper", "--actor", "ops-lead")
    assert code == 0, out
    with pytest.raises(LiveGateClosedError):
        asyncio.run(_open_live(records))

    async def audit() -> list[tuple[str, str, object]]:
        store = await open_store(None, records / "records.sqlite", SimulatedClock(T0))
        try:
            entries = await store.audit_log(1000)
        finally:
            await store.close()
        return [
            (e["actor"], e["action"], e["detail"].get("reason"))
            for e in reversed(entries)
            if str(e["action"]).startswith("live_")
        ]

    assert asyncio.run(audit()) == [
        ("J. Kim", "live_enabled", "four months of paper"),
        ("ops-lead", "live_disabled", "back to paper"),
    ]


def test_mode_live_without_the_gate_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_MODE", "live")
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "aegis status: mode live needs the paper-to-live gate: `aegis live check` shows the criteria, "
        "`aegis live enable --approver NAME` records the approval once they are met"
    ]


async def test_enable_needs_an_approver_and_refuses_an_unmet_record(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path / "records.sqlite", SimulatedClock(T0))
    try:
        paper = await read_paper_record(store, CASH)
        with pytest.raises(ValueError, match="approver"):
            await enable_live(store, paper, LiveGateConfig(), approver=" ", reason="r", at=T0)
        with pytest.raises(LiveGateNotMetError):
            await enable_live(store, paper, LiveGateConfig(), approver="a", reason="r", at=T0)
        with pytest.raises(LiveGateClosedError):
            await require_live_gate(store)
    finally:
        await store.close()


def test_bad_input_to_aegis_live_is_one_line_and_exit_2(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    asyncio.run(_open_live_free(records))
    for args, expected in (
        (["live", "enable", "--approver", " ", "--reason", "ready"], "name who approves"),
        (["live", "enable", "--approver", "J. Kim", "--reason", " "], "--reason must say why"),
        (["live", "disable", "--reason", ""], "--reason must say why"),
    ):
        code, out = _aegis(records, *args)
        assert code == 2 and "Traceback" not in out, out
        assert expected in out and len(out.strip().splitlines()) == 1, out
    result = CliRunner().invoke(app, ["live", "check", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "holds no records" in result.output and "Traceback" not in result.output
    code, out = _aegis(records, "live", "status")  # nothing above was recorded
    assert code == 0 and out.strip() == "never enabled", out


async def _open_live_free(records: Path) -> None:
    store = await open_store(None, records / "records.sqlite", SimulatedClock(T0))
    await store.close()
