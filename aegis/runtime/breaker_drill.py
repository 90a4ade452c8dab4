"""The circuit-breaker drill: two bots with positions, one bot's stock crashes, only that bot stops.

On a throwaway embedded pipeline the bundled bars of four symbols go through the real market feed (so
the bot supervisor marks the bots at each day's start and watches the breaker on each bar). Two bots are
registered with 10 % of equity each: `tech` (AAPL, MSFT) and `banks` (JPM, BAC); each buys one position
of 6 % of equity. On the drill day AAPL's bar is a crash (25 % down, the injected fault): `tech`'s sleeve
loses about 15 % of its day-start value, past the 10 % limit, and `banks`' moves with the market. The
supervisor submits a CIRCUIT_BREAKER event, the breaker flow stops `tech` and raises a CRITICAL alert;
then a signal of each bot shows that `tech`'s is recorded without deliberation and `banks`' (an exit of
its JPM) is deliberated.
The drill passes when exactly `tech` is stopped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from aegis.pipeline import Pipeline
from aegis.settings import Settings
from graphs.deliberation.config import DeliberationConfig
from state.bots import Bot
from state.clock import SimulatedClock
from state.events import Bar
from state.orders import OrderRequest, OrderType, Side
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

Say = Callable[[str], None]
DAY = 400  # a bundled trading day with 120 bars of history before it
BOTS = {"tech": ("AAPL", "MSFT"), "banks": ("JPM", "BAC")}
HELD = {"tech": "AAPL", "banks": "JPM"}
CRASH = 0.25  # the fault: AAPL's drill-day bar 25 % below the previous close
ENTRY_SHARE = 0.06  # each bot's position, of the account's equity


async def run_breaker_drill(say: Say = print, folder: Path | None = None) -> tuple[bool, list[str]]:
    """Run the drill; (passed, the bots stopped)."""
    with tempfile.TemporaryDirectory(prefix="aegis-drill-") as tmp:
        symbols = [s for universe in BOTS.values() for s in universe]
        panel = load_bundled_daily(symbols)
        bars = {symbol: symbol_bars(panel, symbol, first=DAY - 120, last=DAY) for symbol in symbols}
        clock = SimulatedClock(bars["AAPL"][0].time - timedelta(hours=1))
        day_s = 86_400.0  # daily bars: the last close is as fresh as the data gets
        config = DeliberationConfig.model_validate(
            {"max_market_age_s": day_s, "risk_limits": {"max_reference_age_s": day_s}}
        )
        settings = Settings(data_dir=folder or Path(tmp), deliberation=config)
        async with await Pipeline.open(settings, clock=clock) as pipeline:
            return await _drill(pipeline, clock, bars, say)


async def _drill(p: Pipeline, clock: SimulatedClock, bars: dict[str, list[Bar]], say: Say) -> tuple[bool, list[str]]:
    feed = p.market_feed()
    days = len(bars["AAPL"])
    for i in range(days - 2):  # history up to the day before the entries fill
        for symbol, series in bars.items():
            await feed.bar(symbol, series[i])
    bots = [Bot(bot_id=b, strategy="drill", universe=u, allocation=0.10, since=clock.now()) for b, u in BOTS.items()]
    await p.bots.register(bots, actor="drill", reason="circuit-breaker drill: 10 % of equity each")
    equity = p.paper_broker.equity()
    for bot_id, symbol in HELD.items():
        price = bars[symbol][days - 3].close
        quantity = int(ENTRY_SHARE * equity / price)
        await p.paper_broker.submit(_entry(bot_id, symbol, quantity, price * 1.05, clock.now()))
    for symbol, series in bars.items():  # the entries fill at this day's open
        await feed.bar(symbol, series[days - 2])
    for position in p.paper_broker.positions().values():
        say(f"{position.bot_id:<6} holds {position.quantity:g} {position.symbol} at {position.avg_price:.2f}")
    crash_day = bars["AAPL"][days - 1]
    last = bars["AAPL"][days - 2].close
    crashed = _crashed(crash_day.time, last)
    say(f"fault: AAPL's bar of {crash_day.time:%Y-%m-%d} is {CRASH:.0%} below the previous close ({last:.2f})")
    for symbol, series in bars.items():
        await feed.bar(symbol, crashed if symbol == "AAPL" else series[days - 1])
    for record in await p.services.store.decisions():
        if record.event_type == "CIRCUIT_BREAKER":
            say(f"{record.event_id}: {record.outcome} ({record.reason})")
    for bot in await p.bots.bots():
        say(f"bot {bot.describe()}")
    for bot_id, symbol, direction in (("tech", "MSFT", "long"), ("banks", "JPM", "short")):
        decision = await p.submit(await _signal(p, f"drill-{bot_id}-{symbol}", symbol, bot_id, direction))
        roles = "roles asked" if decision.analysis is not None else "no role asked"
        say(f"a {direction} {symbol} signal of {bot_id}: {decision.outcome}, {roles} ({decision.reason[:100]})")
    for alert in await p.services.store.alerts(limit=10):
        say(f"alert {alert.level.upper()} {alert.kind}: {alert.message}")
    stopped = [bot.bot_id for bot in await p.bots.bots() if not bot.running]
    passed = stopped == ["tech"]
    say(f"drill circuit-breaker: {'behaved as configured' if passed else 'DID NOT behave as configured'} "
        f"(expected only tech stopped; stopped: {', '.join(stopped) or 'none'})")  # fmt: skip
    return passed, stopped


def _entry(bot_id: str, symbol: str, quantity: int, limit: float, at: datetime) -> OrderRequest:
    return OrderRequest(
        event_id=f"drill-entry-{bot_id}", symbol=symbol, side=Side.BUY, quantity=quantity, order_type=OrderType.LIMIT,
        limit_price=round(limit, 2), created_at=at, bot_id=bot_id,
    )  # fmt: skip


def _crashed(at: datetime, previous_close: float) -> Bar:
    close = previous_close * (1 - CRASH)
    return Bar(time=at, open=close * 1.01, high=close * 1.02, low=close * 0.99, close=close, volume=1e8)


async def _signal(p: Pipeline, event_id: str, symbol: str, bot_id: str, direction: str) -> dict[str, object]:
    bar = (await p.services.hot.bars(symbol))[-1]
    return {
        "id": event_id, "type": "SIGNAL_GENERATED", "source": "drill", "symbols": [symbol], "bot_id": bot_id,
        "event_time": p.services.clock.now().isoformat(),
        "payload": {"signal": "drill", "direction": direction, "strength": 0.8, "bar": bar.model_dump(mode="json")},
    }  # fmt: skip
