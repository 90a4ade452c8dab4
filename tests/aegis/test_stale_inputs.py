"""Stale inputs fail closed, on a real pipeline (SQLite, paper broker, rules baseline) and a fake clock: past
`max_vix_age_days` the sessions are defensive and REDUCING (no new entries; a held position can still be
managed and closed), the decision records say which input, how old and the limit, and one alert goes out per
staleness episode."""

from __future__ import annotations

from datetime import timedelta

from aegis import Pipeline
from aegis.runtime.feed import MarketFeed
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.orders import OrderRequest, OrderType, Side
from tests.conftest import SESSION_DAY, PipelineFactory, ScriptedPerEvent, bundled_bars, signal

BARS = bundled_bars()
DAY = BARS[SESSION_DAY]  # 2013-06-24 (a Monday)
LONG = {"direction": "long", "confidence": 0.8, "thesis": "trend up", "evidence": ["report.trend=up"]}
APPROVE = {"verdict": "approve", "reasons": ["checks pass"], "violated_checks": []}
MARKET_BUY = {"action": "buy", "size_pct": 2.0, "order_type": "market", "stop_loss_pct": 1.0, "take_profit_pct": 2.0,
              "rationale": "enter on the cross"}  # fmt: skip


async def stale_alerts(pipeline: Pipeline) -> list[str]:
    return [a.dedup_key for a in await pipeline.services.store.alerts() if a.kind == "stale_input"]


async def market_order(pipeline: Pipeline, feed: MarketFeed, side: Side, at: int) -> None:
    """A market order filled at the next bar's open."""
    request = OrderRequest(event_id=f"{side}-{at}", symbol="AAPL", side=side, quantity=10,
                           order_type=OrderType.MARKET, created_at=BARS[at].time)  # fmt: skip
    await pipeline.paper_broker.submit(request)
    await feed.bar("AAPL", BARS[at + 1])


async def test_past_the_vix_limit_no_entry_passes_a_held_position_is_managed_and_one_alert_goes_out(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    feed = pipeline.market_feed()
    await feed.vix(14.0, as_of=DAY.time)  # the last VIX close the feed will see for a while
    await market_order(pipeline, feed, Side.BUY, SESSION_DAY)  # held from 06-25
    # 06-26..06-28: under 5 days; 07-01 is 7 days after 06-24: stale from there on.
    for t in range(SESSION_DAY + 2, SESSION_DAY + 11):
        await feed.bar("AAPL", BARS[t])
        fresh = BARS[t].time - DAY.time <= timedelta(days=5)
        assert (await stale_alerts(pipeline) == []) is fresh, BARS[t].time
    assert await stale_alerts(pipeline) == [f"stale_input:vix:{DAY.time.isoformat()}"]  # once, not per day

    now = SESSION_DAY + 10
    managed = await pipeline.submit(signal("exit-while-stale", BARS[now], "short"))
    assert managed.outcome is not Outcome.SCREENED_OUT, managed.reason  # a reduction reaches the roles
    assert managed.posture == "defensive" and "vix stale: last observed 2013-06-24" in (managed.posture_reason or "")
    [stale] = managed.stale_inputs
    assert (stale.input, stale.as_of, stale.limit, stale.unit) == ("vix", DAY.time, 5.0, "days")
    assert stale.age == (BARS[now].time - DAY.time).total_seconds() / 86_400

    await market_order(pipeline, feed, Side.SELL, now)  # the exit fills while the VIX is stale
    assert pipeline.paper_broker.positions() == {}
    entry = await pipeline.submit(signal("entry-while-stale", BARS[now + 1]))
    assert entry.outcome is Outcome.SCREENED_OUT and entry.order is None
    assert "trading is reducing" in entry.reason and "vix stale" in entry.reason
    assert entry.stale_inputs and entry.posture == "defensive"

    await feed.vix(15.0, as_of=BARS[now + 1].time)  # a fresh reading ends the episode
    again = await pipeline.submit(signal("entry-fresh", BARS[now + 1]))
    assert again.stale_inputs == [] and "reducing" not in again.reason
    for t in range(now + 2, now + 9):  # stale again: a new episode, a second alert
        await feed.bar("AAPL", BARS[t])
    assert sorted(await stale_alerts(pipeline)) == [
        f"stale_input:vix:{DAY.time.isoformat()}",
        f"stale_input:vix:{BARS[now + 1].time.isoformat()}",
    ]
    assert [t.tier for t in pipeline.monitor.transitions if t.source == "stale:vix"] == ["stale", "fresh", "stale"]


def _advance(pipeline: Pipeline, seconds: float) -> None:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.advance(timedelta(seconds=seconds))


async def test_a_symbols_stale_bar_is_recorded_and_alerted_once_per_episode(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()  # max_market_age_s 30: the last AAPL bar is DAY's, at the clock's start
    _advance(pipeline, 60)
    first = await pipeline.submit(signal("entry-on-old-bar", DAY))
    assert first.outcome is Outcome.SCREENED_OUT and "market data is 60 s old" in first.reason
    [stale] = first.stale_inputs
    assert (stale.input, stale.as_of, stale.age, stale.limit, stale.unit) == ("market:AAPL", DAY.time, 60.0, 30.0, "s")
    again = await pipeline.submit(signal("entry-on-old-bar-2", DAY))
    assert [s.input for s in again.stale_inputs] == ["market:AAPL"]
    alerts = [a for a in await pipeline.services.store.alerts() if a.kind == "stale_input"]
    assert [(a.dedup_key, str(a.level)) for a in alerts] == [(f"stale_input:market:AAPL:{DAY.time.isoformat()}",
                                                              "warning")]  # fmt: skip
    assert "market:AAPL stale: last observed" in alerts[0].message and "no new entry" in alerts[0].message
    # The next bar ends the episode; it goes stale in turn: a second alert, keyed by that bar.
    nxt = BARS[SESSION_DAY + 1]
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(nxt.time)
    await pipeline.market_feed().bar("AAPL", nxt)
    fresh = await pipeline.submit(signal("entry-on-new-bar", nxt))
    assert fresh.stale_inputs == [], fresh.stale_inputs
    _advance(pipeline, 45)
    late = await pipeline.submit(signal("entry-on-new-bar-late", nxt))
    assert [(s.input, s.as_of, s.age) for s in late.stale_inputs] == [("market:AAPL", nxt.time, 45.0)]
    keys = [a.dedup_key for a in await pipeline.services.store.alerts() if a.kind == "stale_input"]
    assert sorted(keys) == sorted(f"stale_input:market:AAPL:{b.time.isoformat()}" for b in (DAY, nxt))


async def test_a_stale_reference_price_at_the_guard_is_recorded(make_pipeline: PipelineFactory) -> None:
    # The pre-screen lets a bar 60 s old through (limit 120 s); the guard's reference price limit is 30 s.
    scripted = ScriptedPerEvent(LONG, APPROVE)
    scripted.script("buy-on-old-price", MARKET_BUY)
    pipeline = await make_pipeline({"scripted": scripted}, provider="scripted", max_market_age_s=120.0)
    _advance(pipeline, 60)
    decision = await pipeline.submit(signal("buy-on-old-price", DAY))
    assert decision.order is None, decision.reason
    assert [s.input for s in decision.stale_inputs] == ["price:AAPL"]
    assert [a.dedup_key for a in await pipeline.services.store.alerts() if a.kind == "stale_input"] == [
        f"stale_input:price:AAPL:{DAY.time.isoformat()}"
    ]
