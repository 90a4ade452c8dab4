"""Each drill injects its fault into a simulated session and ends in the state its tiers promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.runtime.drills import Drill, run_drill
from state.trading import TradingState

EXPECTED = {
    Drill.PROVIDER_OUTAGE: (TradingState.REDUCING, "SAFE_MODE"),
    Drill.FEED_DISCONNECT: (TradingState.HALTED, "HALT"),
    Drill.PRICE_MISMATCH: (TradingState.ACTIVE, "HALT_AND_ASK_HUMAN"),
    Drill.LOSS_LIMIT: (TradingState.HALTED, "CAPITAL_DOWN"),
    Drill.KILL_SWITCH: (TradingState.HALTED, "kill switch: HALTED"),
}


@pytest.mark.parametrize("drill", list(Drill))
async def test_each_drill_behaves_as_configured(drill: Drill, tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_drill(drill, say=lines.append, folder=tmp_path)
    state, printed = EXPECTED[drill]
    assert result.passed, "\n".join(lines)
    assert result.account is state
    assert any(printed in line for line in lines), "\n".join(lines)
    assert lines[-1].endswith(f"behaved as configured (expected account {state.upper()})")
