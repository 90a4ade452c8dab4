"""Invariant 1 end to end: whatever the commander says, the order that reaches the broker respects the
posture and the limits. Arbitrary commander replies go through the real graph (scripted roles)."""

from __future__ import annotations

import asyncio
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aegis import Pipeline, Settings
from agents.llm.scripted import Scripted, ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from quant.posture import DEFAULT_POSTURES, Posture
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from state.decisions import Outcome
from tests.conftest import SESSION_DAY, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG

BARS = bundled_bars()
OFFENSIVE = DEFAULT_POSTURES[Posture.OFFENSIVE]

PRICE = BARS[SESSION_DAY].close

anything = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**9), 10**9), st.text(max_size=5)
)
# Replies the commander schema accepts but that push every limit: huge sizes, wide brackets, market
# orders, limits far above or below the market.
schema_valid = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["buy", "buy", "buy", "sell", "hold"]),
        "size_pct": st.floats(0, 100),
        "order_type": st.sampled_from(["market", "limit"]),
        "limit_price": st.one_of(st.none(), st.floats(PRICE * 0.5, PRICE * 3)),
        "stop_loss_pct": st.one_of(st.none(), st.floats(0.0001, 50)),
        "take_profit_pct": st.one_of(st.none(), st.floats(0.0001, 100)),
        "rationale": st.just("push the limits"),
    }
)
# Replies that break the schema: they must fail closed (hold), never trade.
schema_invalid = st.one_of(
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(["buy", "BUY", "short"]),
            "size_pct": anything,
            "order_type": st.sampled_from(["market", "limit", "stop", ""]),
            "limit_price": anything,
            "stop_loss_pct": anything,
            "take_profit_pct": anything,
            "rationale": st.text(max_size=20),
        }
    ),
    st.text(max_size=40),
)
commander_reply = st.one_of(schema_valid, schema_valid, schema_valid, schema_invalid)


async def _run(replies: list[Any], folder: Path) -> list[Any]:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    client = ScriptedClient(
        {"analyst": [LONG], "validator": [APPROVE], "commander": [Scripted(r) for r in replies] + [Scripted("{}")]}
    )
    settings_ = Settings(data_dir=folder, deliberation=DeliberationConfig.model_validate({"roles": roles}))
    pipeline = await Pipeline.open(
        settings_, clock=SimulatedClock(BARS[SESSION_DAY].time), providers={"scripted": client}
    )
    try:
        for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await pipeline.services.hot.push_bar("AAPL", bar)
        await pipeline.services.hot.set_value(VIX_KEY, 12.0)
        return [await pipeline.submit(signal(f"p-{n}", BARS[SESSION_DAY])) for n in range(len(replies))]
    finally:
        await pipeline.close()


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(replies=st.lists(commander_reply, min_size=4, max_size=12))
def test_no_executed_order_ever_exceeds_a_limit(replies: list[Any]) -> None:
    price = PRICE
    with tempfile.TemporaryDirectory() as tmp:
        decisions = asyncio.run(_run(replies, Path(tmp)))
    for decision in decisions:
        assert decision.outcome in {Outcome.ORDERED, Outcome.HOLD, Outcome.BLOCKED}, decision.reason
        if decision.order is None:
            continue
        request = decision.order.request
        reference = request.limit_price or price
        assert request.side == "buy"  # nothing is held, and short selling is disabled
        assert request.quantity >= 1 and float(request.quantity).is_integer()
        assert request.quantity * reference <= 100_000 * OFFENSIVE.entry_size_pct / 100 * (1 + 1e-9)
        assert request.limit_price is None or request.limit_price <= price
        assert request.stop_loss_price is not None and request.take_profit_price is not None
        stop = (1 - request.stop_loss_price / reference) * 100
        target = (request.take_profit_price / reference - 1) * 100
        assert 0 < stop <= OFFENSIVE.stop_loss_pct + 1e-9
        assert 0 < target <= OFFENSIVE.take_profit_pct + 1e-9
        assert math.isfinite(request.quantity * reference)
