"""Invariant 1 end to end: whatever the commander says, in whatever posture, on whatever book the account
already holds, what reaches the broker keeps the account within the posture and the limits. Arbitrary
commander replies go through the real graph (scripted roles).

Each example: an account that bought a drawn starting book (any of AAPL, MSFT, JPM and XOM) under the
offensive posture the day before, filled at the session day's open; then a VIX in one posture's range (each
posture a case of its own; the book may hold more symbols than the posture allows); then the commander's
replies to AAPL signals, one event each. Prices do not move during the replies, so the limits are checked
exactly, on the whole account (filled plus pending) as the store holds it after all of them.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aegis import Pipeline, Settings
from aegis.runtime.feed import MarketFeed
from agents.commander import CommanderOrder
from agents.llm.json_reply import find_json_object
from agents.llm.scripted import Scripted
from graphs.deliberation.config import DeliberationConfig
from quant.posture import DEFAULT_POSTURES, Posture, posture_from_vix
from quant.risk_guard import RiskLimits
from state.clock import SimulatedClock
from state.decisions import DecisionRecord, Outcome, StageStatus
from state.orders import Side
from state.store.base import AccountBook
from tests.conftest import SESSION_DAY, ScriptedPerEvent, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG

SYMBOLS = ("AAPL", "MSFT", "JPM", "XOM")
BARS = {symbol: bundled_bars(symbol) for symbol in SYMBOLS}
PRICE = BARS["AAPL"][SESSION_DAY].close
LIMITS = RiskLimits()
REL = 1e-9  # float rounding: the guard and this test add the same numbers in different orders

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
        "limit_price": st.one_of(st.none(), st.floats(PRICE * 0.88, PRICE * 1.12), st.floats(PRICE * 0.5, PRICE * 3)),
        "stop_loss_pct": st.one_of(st.none(), st.floats(0.0001, 50)),
        "take_profit_pct": st.one_of(st.none(), st.floats(0.0001, 100)),
        "rationale": st.just("push the limits"),
    }
)


def passes_the_schema(reply: Any) -> bool:
    """Whether the commander's stage would accept `reply` as the scripted client sends it."""
    parsed = find_json_object(Scripted(reply).raw)
    if parsed is None:
        return False
    try:
        CommanderOrder.model_validate(parsed)
    except ValidationError:
        return False
    return True


# Replies that break the schema: they must fail closed (hold), never trade. Wild values may happen to be
# valid ("2" is read as 2.0), so what the schema accepts is filtered out.
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
).filter(lambda reply: not passes_the_schema(reply))
commander_reply = st.one_of(schema_valid, schema_valid, schema_valid, schema_invalid)
# A VIX in each posture's range (each posture is a case of its own, so that every run tries all three).
VIX_RANGES = {
    Posture.OFFENSIVE: st.floats(9.0, 14.99),
    Posture.GUERRILLA: st.floats(15.0, 25.0),
    Posture.DEFENSIVE: st.floats(25.01, 60.0),
}
# The plain buy each symbol of the starting book was bought with.
ENTER = {"action": "buy", "size_pct": 100.0, "order_type": "limit", "rationale": "enter"}


@dataclass(frozen=True)
class Run:
    decisions: list[DecisionRecord]  # one per reply, in order
    recorded: list[DecisionRecord | None]  # the same decisions as the store holds them
    held_before: dict[str, float]  # the starting book: symbol -> quantity
    account: AccountBook  # after every reply


async def _run(replies: list[Any], vix: float, starting_book: list[str], folder: Path) -> Run:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    client = ScriptedPerEvent(LONG, APPROVE)
    settings_ = Settings(data_dir=folder, deliberation=DeliberationConfig.model_validate({"roles": roles}))
    eve, day = SESSION_DAY - 1, SESSION_DAY
    clock = SimulatedClock(BARS["AAPL"][eve - 119].time)
    pipeline = await Pipeline.open(settings_, clock=clock, providers={"scripted": client})
    try:
        feed = MarketFeed(pipeline.services.hot, pipeline.paper_broker, clock)
        for symbol in SYMBOLS:
            for bar in BARS[symbol][eve - 119 : eve]:
                await pipeline.services.hot.push_bar(symbol, bar)
        for symbol in SYMBOLS:
            await feed.bar(symbol, BARS[symbol][eve])
        # The starting book, bought offensive (it may hold more symbols than the drawn posture allows) and
        # filled at the session day's open.
        await feed.vix(12.0)
        for symbol in starting_book:
            client.script(f"enter-{symbol}", ENTER)
            entered = await pipeline.submit(signal(f"enter-{symbol}", BARS[symbol][eve], symbol=symbol))
            assert entered.outcome is Outcome.ORDERED, entered.reason
        for symbol in SYMBOLS:
            await feed.bar(symbol, BARS[symbol][day])
        held_before = {p.symbol: p.quantity for p in pipeline.paper_broker.positions().values()}
        assert set(held_before) == set(starting_book), "the starting book filled"
        await feed.vix(vix)
        # A long signal on a held symbol is screened out, a short one on a symbol not held too.
        direction = "short" if "AAPL" in held_before else "long"
        decisions = []
        for n, reply in enumerate(replies):
            client.script(f"p-{n}", reply)
            decisions.append(await pipeline.submit(signal(f"p-{n}", BARS["AAPL"][day], direction)))
        store = pipeline.services.store
        recorded = [await store.get_decision(d.event_id) for d in decisions]
        return Run(decisions, recorded, held_before, await store.account_book())
    finally:
        await pipeline.close()


@pytest.mark.parametrize("posture", list(Posture))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    replies=st.lists(commander_reply, min_size=4, max_size=12),
    data=st.data(),
    starting_book=st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4),
)
def test_no_reply_takes_the_account_past_a_limit(
    posture: Posture, replies: list[Any], data: st.DataObject, starting_book: list[str]
) -> None:
    vix = data.draw(VIX_RANGES[posture], label="vix")
    assert posture_from_vix(vix) is posture
    event(f"{len(starting_book)} symbols held at the start")
    with tempfile.TemporaryDirectory() as tmp:
        run = asyncio.run(_run(replies, vix, starting_book, Path(tmp)))
    account = run.account
    marks = dict(account.marks)
    cash = account.cash if account.cash is not None else 100_000.0
    held = {p.symbol: p.quantity for p in account.positions}
    assert held == run.held_before, "nothing fills while the replies are deliberated"
    equity = cash + sum(q * marks[s] for s, q in held.items())

    committed = set(held)  # symbols held or with a pending buy, as the decisions were placed
    selling = 0.0
    for reply, decision, recorded in zip(replies, run.decisions, run.recorded, strict=True):
        # Recorded as returned (compared field by field: a NaN the model wrote is never equal to itself).
        assert recorded is not None
        assert (recorded.outcome, recorded.reason, recorded.order, recorded.failed_stages) == (
            decision.outcome,
            decision.reason,
            decision.order,
            decision.failed_stages,
        )
        commander = next((s for s in decision.stages if s.stage == "commander"), None)
        if not passes_the_schema(reply):  # fails closed: a recorded HOLD, the commander's stage FAILED
            event("schema-invalid reply")
            if commander is None:  # the pre-screen stopped the session: the reply was never asked for
                assert decision.outcome is Outcome.SCREENED_OUT, decision.reason
                continue
            assert decision.outcome is Outcome.HOLD, decision.reason
            assert commander.status is StageStatus.FAILED and "commander" in decision.failed_stages
            assert decision.order is None
            continue
        assert decision.outcome in {Outcome.ORDERED, Outcome.HOLD, Outcome.BLOCKED, Outcome.SCREENED_OUT}
        if decision.outcome is Outcome.SCREENED_OUT:
            assert commander is None
        if decision.order is None:
            continue
        event(f"ordered a {decision.order.request.side}")
        request = decision.order.request
        assert decision.posture is not None
        params = DEFAULT_POSTURES[Posture(decision.posture)]
        if request.side is Side.SELL:  # closes what is held and not already being sold; no brackets
            selling += request.quantity
            assert selling <= held.get(request.symbol, 0.0)
            assert request.stop_loss_price is None and request.take_profit_price is None
            band = LIMITS.price_band_pct / 100 + REL
            assert request.limit_price is None or abs(request.limit_price / PRICE - 1) <= band
            continue
        # A buy: whole units within the entry size, a limit not above the market, brackets within the posture's.
        reference = request.limit_price or PRICE
        assert request.quantity >= 1 and float(request.quantity).is_integer()
        assert math.isfinite(request.quantity * reference)
        assert request.quantity * reference <= equity * params.entry_size_pct / 100 * (1 + REL)
        lowest = PRICE * (1 - LIMITS.price_band_pct / 100) * (1 - REL)
        assert request.limit_price is None or lowest <= request.limit_price <= PRICE
        assert request.stop_loss_price is not None and request.take_profit_price is not None
        stop = (1 - request.stop_loss_price / reference) * 100
        target = (request.take_profit_price / reference - 1) * 100
        assert 0 < stop <= params.stop_loss_pct * (1 + REL)
        assert 0 < target <= params.take_profit_pct * (1 + REL)
        # ... and no new symbol once the posture's positions are taken, filled or pending.
        assert request.symbol in committed or len(committed) < params.max_open_positions, decision.posture
        committed.add(request.symbol)
        assert len(committed) <= params.max_open_positions, decision.posture

    # The whole account after every reply, filled plus pending, at the prices the orders were sized at.
    value = {s: q * marks[s] for s, q in held.items()}
    reserved = 0.0
    for order in account.open_orders:
        request = order.request
        if request.side is Side.BUY:
            value[request.symbol] = value.get(request.symbol, 0.0) + request.quantity * marks[request.symbol]
            cost = request.quantity * (request.limit_price or marks[request.symbol])
            reserved += cost * (1 + LIMITS.fee_buffer_pct / 100)
    assert set(value) == committed
    for symbol, amount in value.items():
        assert amount <= LIMITS.max_concentration_pct / 100 * equity * (1 + REL), symbol
    assert sum(value.values()) <= LIMITS.max_gross_exposure_pct / 100 * equity * (1 + REL)
    assert cash - reserved >= -REL * equity
