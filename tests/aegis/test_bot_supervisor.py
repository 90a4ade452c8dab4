"""The bot supervisor on the real feed: day-start marks, the rebalancing schedule, and the circuit breaker
tripping on a real crash (AAPL fell 12.4 % on 2013-01-24) for the bot that held it, and for no other."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aegis.pipeline import Pipeline
from aegis.runtime.bot_supervisor import rebalance_due
from aegis.settings import Settings
from state.bots import Bot, BotState
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.events import Bar
from state.orders import OrderRequest, OrderType, Side
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

CRASH = 96  # 2013-01-24: AAPL -12.36 % close to close, JPM +0.30 %, XOM +0.72 %
BOTS = {"apple": "AAPL", "banks": "JPM", "oil": "XOM"}


async def _pipeline(tmp_path: Path) -> tuple[Pipeline, dict[str, list[Bar]]]:
    panel = load_bundled_daily(list(BOTS.values()))
    bars = {symbol: symbol_bars(panel, symbol, last=CRASH) for symbol in BOTS.values()}
    pipeline = await Pipeline.open(Settings(data_dir=tmp_path), clock=SimulatedClock(bars["AAPL"][0].time))
    return pipeline, bars


async def test_only_the_bot_whose_sleeve_lost_ten_percent_stops(tmp_path: Path) -> None:
    pipeline, bars = await _pipeline(tmp_path)
    try:
        feed = pipeline.market_feed()
        now = pipeline.services.clock.now()
        await pipeline.bots.register(
            [Bot(bot_id=b, strategy="test", universe=(s,), allocation=0.05, since=now) for b, s in BOTS.items()],
            actor="test", reason="5 % each",
        )  # fmt: skip
        for t in range(CRASH - 1):  # up to 2013-01-22
            for symbol, series in bars.items():
                await feed.bar(symbol, series[t])
        for bot_id in ("apple", "banks"):  # each buys 98 % of its 5,000 sleeve, filled at 2013-01-23's open
            symbol, close = BOTS[bot_id], bars[BOTS[bot_id]][CRASH - 2].close
            await pipeline.paper_broker.submit(
                OrderRequest(event_id=f"entry-{bot_id}", symbol=symbol, side=Side.BUY, quantity=int(4_900 / close),
                             order_type=OrderType.LIMIT, limit_price=round(close * 1.05, 2),
                             created_at=pipeline.services.clock.now(), bot_id=bot_id)
            )  # fmt: skip
        for symbol, series in bars.items():
            await feed.bar(symbol, series[CRASH - 1])
        assert {p.bot_id for p in pipeline.paper_broker.positions().values()} == {"apple", "banks"}
        assert not [d for d in await pipeline.services.store.decisions() if d.event_type == "CIRCUIT_BREAKER"]

        for symbol, series in bars.items():  # the crash day, real bars
            await feed.bar(symbol, series[CRASH])

        [breaker] = [d for d in await pipeline.services.store.decisions() if d.event_type == "CIRCUIT_BREAKER"]
        assert breaker.event_id == "breaker-2013-01-24-apple" and breaker.outcome is Outcome.APPLIED
        states = {bot.bot_id: bot.state for bot in await pipeline.bots.bots()}
        assert states == {"apple": BotState.STOPPED, "banks": BotState.RUNNING, "oil": BotState.RUNNING}
        assert breaker.operation is not None and breaker.operation["stopped"] == ["apple"]
        loss = float(breaker.reason.split("daily loss ")[1].split(" %")[0])
        assert 10.0 <= loss < 13.0  # ~98 % of the sleeve in a stock down 12.4 % from the day's start mark
        marks = await pipeline.services.store.bot_days(since=date(2013, 1, 24))
        assert {m.bot_id for m in marks} == set(BOTS) and all(m.sleeve > 0 for m in marks)
    finally:
        await pipeline.close()


async def test_a_weekly_schedule_submits_one_rebalancing_per_week(tmp_path: Path) -> None:
    pipeline, bars = await _pipeline(tmp_path)
    try:
        feed = pipeline.market_feed()
        now = pipeline.services.clock.now()
        await pipeline.bots.register(
            [Bot(bot_id=b, strategy="test", allocation=0.3, since=now) for b in BOTS], actor="test", reason="x"
        )
        days = bars["AAPL"][:30]
        for bar in days:
            await feed.bar("AAPL", bar)
        due = [d for d in await pipeline.services.store.decisions() if d.event_type == "REBALANCING_DUE"]
        weeks = {bar.time.date().isocalendar()[:2] for bar in days}
        assert len(due) == len(weeks) - 1  # the first week has no earlier day to change from
        assert all(d.outcome is Outcome.SKIPPED for d in due)  # too little history yet: recorded skips
        assert [d.event_id for d in due] == sorted(d.event_id for d in due)
        assert all(date.fromisoformat(d.event_id.removeprefix("rebalance-")).weekday() <= 1 for d in due)
    finally:
        await pipeline.close()


@pytest.mark.parametrize(
    ("schedule", "previous", "day", "due"),
    [
        ("weekly", date(2016, 3, 4), date(2016, 3, 7), True),  # Friday -> Monday
        ("weekly", date(2016, 3, 7), date(2016, 3, 8), False),
        ("monthly", date(2016, 3, 31), date(2016, 4, 1), True),
        ("monthly", date(2016, 3, 4), date(2016, 3, 7), False),
        ("off", date(2016, 3, 31), date(2016, 4, 1), False),
    ],
)
def test_the_schedule(schedule: str, previous: date, day: date, due: bool) -> None:
    assert rebalance_due(schedule, previous, day) is due
