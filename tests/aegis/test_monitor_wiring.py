"""The risk monitor wired into running pipelines: provider outcomes reach it from the roles' calls, the
market feed gives it fills, marks and time, and sessions record cached data while the feed is silent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from aegis import Pipeline
from agents.llm.client import LLMReply, LLMRequest, ProviderUnavailableError
from agents.llm.observed import ObservedClient
from agents.llm.scripted import Scripted, ScriptedClient
from state.clock import SimulatedClock
from state.context_loader import STOP_LOSS_STREAK_COUNTER
from state.decisions import Outcome
from state.events import Bar
from state.orders import OrderRequest, OrderType, Side
from state.trading import TradingState
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

BARS = bundled_bars()
DOWN = ProviderUnavailableError("503 from every route")


def request(timeout_s: float = 1.0) -> LLMRequest:
    return LLMRequest(role="analyst", model="m", messages=(), prompt_id="p", prompt_hash="h", schema_name="s",
                      json_schema={}, timeout_s=timeout_s)  # fmt: skip


async def test_the_observed_client_reports_each_calls_outcome() -> None:
    heard: list[tuple[str, bool]] = []

    def observe(provider: str, ok: bool) -> None:
        heard.append((provider, ok))

    slow = Scripted(LONG, delay_s=5.0)
    client = ObservedClient(ScriptedClient({"analyst": [LONG, Scripted(error=DOWN), slow, slow]}), observe)
    assert isinstance(await client.complete(request()), LLMReply)
    with pytest.raises(ProviderUnavailableError):
        await client.complete(request())
    with pytest.raises(TimeoutError):  # the stage runner's deadline: a provider too slow is a failure
        async with asyncio.timeout(0.05):
            await client.complete(request(timeout_s=0.05))
    assert heard == [("scripted:m", True), ("scripted:m", False), ("scripted:m", False)]
    task = asyncio.create_task(client.complete(request(timeout_s=10.0)))
    await asyncio.sleep(0)
    task.cancel()  # a shutdown well before the deadline says nothing about the provider
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(heard) == 3


def at(pipeline: Pipeline, seconds: float) -> None:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(BARS[SESSION_DAY].time + timedelta(seconds=seconds))


async def test_sessions_whose_provider_keeps_failing_reduce_the_account(make_pipeline: PipelineFactory) -> None:
    client = ScriptedClient(
        {"analyst": [Scripted(error=DOWN), Scripted(error=DOWN), LONG], "validator": [APPROVE, APPROVE],
         "commander": [buy(BARS[SESSION_DAY].close)], "health_check": [Scripted(error=DOWN), {"ok": True}]}
    )  # fmt: skip
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    first = await pipeline.submit(signal("down-1", BARS[SESSION_DAY]))
    at(pipeline, 29.0)
    second = await pipeline.submit(signal("down-2", BARS[SESSION_DAY]))
    assert first.failed and second.failed and first.order is None and second.order is None
    assert (await pipeline.trading.states()).account.state is TradingState.ACTIVE  # 29 s: not yet
    at(pipeline, 30.0)
    await pipeline.monitor.tick()
    states = await pipeline.trading.states()
    assert states.account.state is TradingState.REDUCING and states.account.actor == "tier:provider"
    assert [a.kind for a in await pipeline.services.store.alerts()] == ["provider_outage"]
    third = await pipeline.submit(signal("reducing-3", BARS[SESSION_DAY]))
    assert third.outcome is Outcome.SCREENED_OUT and "trading is reducing" in third.reason  # no role was asked
    at(pipeline, 44.0)
    await pipeline.monitor.tick()  # the health check at 30 s failed; the next is due at 45 s
    assert (await pipeline.trading.states()).account.state is TradingState.REDUCING
    assert [r.role for r in client.requests].count("health_check") == 1
    at(pipeline, 45.0)
    await pipeline.monitor.tick()
    assert (await pipeline.trading.states()).account.state is TradingState.ACTIVE


def bar(day: int, **changes: object) -> Bar:
    return BARS[day].model_copy(update=changes)


async def test_the_feed_drives_the_stop_loss_streak_and_releases_it(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    broker, store = pipeline.paper_broker, pipeline.services.store
    feed = pipeline.market_feed()
    await feed.advance(BARS[SESSION_DAY].time)
    symbols = ("AAPL", "JNJ", "XOM")
    bars = {symbol: bundled_bars(symbol) for symbol in symbols}
    for symbol in symbols:  # three small positions, each with a stop 1 % under its price
        price = bars[symbol][SESSION_DAY].close
        await broker.submit(
            OrderRequest(
                event_id=f"e-{symbol}",
                symbol=symbol,
                side=Side.BUY,
                quantity=1,
                order_type=OrderType.MARKET,
                stop_loss_price=price * 0.99,
                created_at=BARS[SESSION_DAY].time,
            )
        )
    for symbol in symbols:
        price = bars[symbol][SESSION_DAY].close
        flat = bars[symbol][SESSION_DAY + 1].model_copy(
            update={"open": price, "high": price, "low": price, "close": price}
        )
        await feed.bar(symbol, flat)  # filled at the price
    assert len(broker.positions()) == 3
    for symbol in symbols:
        crash = bars[symbol][SESSION_DAY].close * 0.95
        fall = bars[symbol][SESSION_DAY + 2].model_copy(
            update={"open": crash, "high": crash, "low": crash, "close": crash}
        )
        await feed.bar(symbol, fall)
    assert await store.get_counter(STOP_LOSS_STREAK_COUNTER) == 3 and broker.positions() == {}
    context = await pipeline.services.loader.load(SYMBOL)
    assert str(context.posture) == "defensive" and "stop-loss exits in a row" in context.posture_reason
    assert "stop_loss_streak" in [a.kind for a in await store.alerts()]
    await feed.advance(BARS[SESSION_DAY + 3].time)  # the next posture evaluation is due after 30 min
    assert await store.get_counter(STOP_LOSS_STREAK_COUNTER) == 0
    assert str((await pipeline.services.loader.load(SYMBOL)).posture) == "offensive"


async def test_a_day_that_loses_5_percent_halts_the_account_through_the_feed(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    broker = pipeline.paper_broker
    feed = pipeline.market_feed()
    price = BARS[SESSION_DAY].close
    await feed.advance(BARS[SESSION_DAY].time)
    quantity = round(40_000 / price)  # 40 % of the book in one name, set up past the guard on purpose
    await broker.submit(OrderRequest(event_id="big", symbol=SYMBOL, side=Side.BUY, quantity=quantity,
                                     order_type=OrderType.MARKET, created_at=BARS[SESSION_DAY].time))  # fmt: skip
    await feed.bar(SYMBOL, bar(SESSION_DAY + 1, open=price, high=price, low=price, close=price))
    day = BARS[SESSION_DAY + 2].time
    await feed.advance(day)  # the day starts with the position at its price
    fall = price * 0.86  # -14 % on 40 % of the book: -5.6 % of equity
    await feed.bar(SYMBOL, bar(SESSION_DAY + 2, open=fall, high=fall, low=fall, close=fall, time=day))
    assert (await pipeline.trading.states()).account.state is TradingState.ACTIVE  # marked at the next step
    await feed.advance(day + timedelta(minutes=1))
    account = (await pipeline.trading.states()).account
    assert account.state is TradingState.HALTED and account.needs_reset
    alerts = await pipeline.services.store.alerts()
    assert [a.kind for a in alerts if a.level == "emergency"] == ["capital_loss"]


async def test_sessions_record_the_age_of_cached_data_while_the_feed_is_silent(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    at(pipeline, 0.0)
    await pipeline.monitor.heartbeat()
    at(pipeline, 5.0)
    await pipeline.monitor.tick()
    silent = await pipeline.submit(signal("silent", BARS[SESSION_DAY]))
    assert silent.context_source is not None and "cached market data 5.0 s old" in silent.context_source
    for second in (6.0, 7.0):  # back, then confirmed by a heartbeat on time
        at(pipeline, second)
        await pipeline.monitor.heartbeat()
    live = await pipeline.submit(signal("live", BARS[SESSION_DAY]))
    assert live.context_source == "hot"


async def test_run_ticks_keeps_ticking_after_a_failure(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    monitor = pipeline.monitor
    ticks: list[int] = []
    third = asyncio.Event()
    original = monitor.tick

    async def flaky() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise ConnectionError("the store went away for a moment")
        if len(ticks) == 3:
            third.set()
        await original()

    monitor.tick = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(monitor.run_ticks(every_s=0.01))
    await asyncio.wait_for(third.wait(), 5.0)  # the failed first tick did not end the loop
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_run_ticks_ends_on_cancel_even_when_a_tick_swallows_the_cancellation(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    monitor = pipeline.monitor
    in_tick = asyncio.Event()

    swallowed: list[bool] = []

    async def swallowing() -> None:  # as a library's timeout can lose a cancellation that races its own
        in_tick.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if swallowed:  # only the first: a loop that outlives it can still be ended by the test's clean-up
                raise
            swallowed.append(True)

    monitor.tick = swallowing  # type: ignore[method-assign]
    task = asyncio.create_task(monitor.run_ticks(every_s=0.01))
    await asyncio.wait_for(in_tick.wait(), 5.0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5.0)
    if task not in done:
        task.cancel()
    assert swallowed and task in done, "the loop outlived its cancellation"
    assert task.cancelled()
