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


@pytest.mark.parametrize("drill", list(EXPECTED))
async def test_each_drill_behaves_as_configured(drill: Drill, tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_drill(drill, say=lines.append, folder=tmp_path)
    state, printed = EXPECTED[drill]
    assert result.passed, "\n".join(lines)
    assert result.account is state
    assert any(printed in line for line in lines), "\n".join(lines)
    assert lines[-1].endswith(f"behaved as configured (expected account {state.upper()})")


async def test_the_circuit_breaker_drill_stops_only_the_bot_whose_stock_crashed(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_drill(Drill.CIRCUIT_BREAKER, say=lines.append, folder=tmp_path)
    text = "\n".join(lines)
    assert result.passed, text
    assert result.account is TradingState.ACTIVE  # the bots' breaker stops bots, not the account
    [breaker] = [line for line in lines if line.startswith("breaker-")]
    assert ": applied (circuit breaker (bots) stopped tech: tech: daily loss 1" in breaker
    assert any(line.startswith("a long MSFT signal of tech: screened_out, no role asked") for line in lines), text
    assert any(line.startswith("a short JPM signal of banks:") and "roles asked" in line for line in lines), text
    assert any("alert CRITICAL circuit_breaker" in line for line in lines), text
