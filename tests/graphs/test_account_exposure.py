"""The account-level limits over a day of orders: pending orders count, also those of the same wave.

Found by trying the project as a new user would: twelve maximum-size AAPL buys on one day used to leave
29.7 % of equity pending in AAPL against a 20 % concentration limit, and one buy signal for each of 8
symbols got 8 orders where the offensive posture allows 5 positions.
"""

from __future__ import annotations

from typing import Any

import pytest

from aegis import Pipeline
from agents.llm.scripted import ScriptedClient
from state.decisions import Outcome
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

MAX_BUY = {**buy(0.0, size_pct=100.0, order_type="market"), "limit_price": None}
EIGHT = ("AAPL", "MSFT", "AMZN", "GOOG", "JPM", "XOM", "JNJ", "KO")


def client() -> ScriptedClient:
    return ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [MAX_BUY]})


async def pending_value(pipeline: Pipeline, symbol: str, price: float) -> float:
    return sum(
        o.request.quantity * price for o in await pipeline.services.store.open_orders() if o.request.symbol == symbol
    )


async def seed(pipeline: Pipeline, symbols: tuple[str, ...]) -> dict[str, Any]:
    bars = {}
    for symbol in symbols:
        history = bundled_bars(symbol)
        if symbol != "AAPL":  # the fixture seeded AAPL
            for bar in history[SESSION_DAY - 119 : SESSION_DAY + 1]:
                await pipeline.services.hot.push_bar(symbol, bar)
        bars[symbol] = history[SESSION_DAY]
    return bars


@pytest.mark.parametrize("in_one_wave", [False, True])
async def test_twelve_max_size_buys_stay_within_the_concentration_limit(
    make_pipeline: PipelineFactory, in_one_wave: bool
) -> None:
    pipeline = await make_pipeline({"scripted": client()}, provider="scripted")
    bar = bundled_bars()[SESSION_DAY]
    events = [signal(f"aapl-{n}", bar) for n in range(12)]
    if in_one_wave:
        decisions = await pipeline.submit_wave(events, concurrency=4)
    else:
        decisions = [await pipeline.submit(event) for event in events]
    ordered = [d for d in decisions if d.outcome is Outcome.ORDERED]
    # Just under 2.5 % each (the offensive entry size, whole shares): the ninth is clipped to the room left.
    assert len(ordered) == 9
    assert "limits.concentration" in {c.rule for c in ordered[-1].guard_changes}
    pending = await pending_value(pipeline, "AAPL", bar.close)
    assert 0.199 * 100_000 < pending <= 0.20 * 100_000
    blocked = decisions[9:]
    assert [d.outcome for d in blocked] == [Outcome.BLOCKED] * 3
    # less than a share of room left under the limit, then none at all
    assert all("below one unit" in d.reason or "concentration limit" in d.reason for d in blocked)


async def test_one_signal_for_each_of_eight_symbols_orders_at_most_five(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline({"scripted": client()}, provider="scripted")
    bars = await seed(pipeline, EIGHT)
    decisions = await pipeline.submit_wave([signal(f"one-{s}", bars[s], symbol=s) for s in EIGHT], concurrency=8)
    outcomes = [d.outcome for d in decisions]
    assert outcomes == [Outcome.ORDERED] * 5 + [Outcome.BLOCKED] * 3
    assert all("5 symbols held or pending" in d.reason for d in decisions[5:])
    assert len({o.request.symbol for o in await pipeline.services.store.open_orders()}) == 5


async def test_a_halted_account_orders_nothing_and_says_why(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline({"scripted": client()}, provider="scripted")
    bar = bundled_bars()[SESSION_DAY]
    first = await pipeline.submit(signal("before-halt", bar))
    assert first.outcome is Outcome.ORDERED
    report = await pipeline.halt(reason="drill", actor="tester")
    assert [o.order_id for o in report.cancelled] == [first.order.order_id if first.order else ""]
    after = await pipeline.submit(signal("after-halt", bar))
    assert after.outcome is Outcome.SCREENED_OUT and "halted" in after.reason
    assert await pipeline.services.store.open_orders() == []


async def test_the_kill_switch_wins_against_a_session_already_past_its_context(
    make_pipeline: PipelineFactory,
) -> None:
    """A session that loaded its context while ACTIVE is refused at execute once the account is halted."""
    pipeline = await make_pipeline({"scripted": client()}, provider="scripted")
    bar = bundled_bars()[SESSION_DAY]
    store = pipeline.services.store
    original = store.account_book

    async def halted_meanwhile() -> Any:  # the halt lands while the session is in its risk guard
        store.account_book = original  # type: ignore[method-assign]
        book = await original()
        await pipeline.halt(reason="operator pressed the switch", actor="tester")
        return book

    store.account_book = halted_meanwhile  # type: ignore[method-assign]
    decision = await pipeline.submit(signal("racing", bar))
    assert decision.outcome is Outcome.BLOCKED
    assert "halted" in decision.reason and decision.order is None
    assert await store.open_orders() == []
