"""The anomaly monitor on the real feed: AAPL's 12.4 % fall of 2013-01-24 is a market anomaly whose symbol
takes no new entry for 30 minutes; a bot's losing streak, slippage and silence are bot anomalies; a
resumed run submits nothing again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aegis.pipeline import Pipeline
from aegis.runtime.anomaly_watch import AnomalyWatch, anomaly_event
from aegis.runtime.bot_trades import BotTrades
from aegis.runtime.market_watch import MarketWatch, MarketWatchConfig
from aegis.settings import Settings
from graphs.bot_status.graph import STATUS_KEY
from quant.anomalies import Rule, Severity
from state.bots import Bot, BotState
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.events import Bar, parse_event
from state.orders import Fill, FillReason, Side
from state.trading import TradingState
from tests.conftest import signal
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

CRASH = 96  # 2013-01-24: AAPL -12.36 % close to close
T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def _bar(at: datetime, close: float, volume: float = 1_000.0, open_: float | None = None) -> Bar:
    o = close if open_ is None else open_
    return Bar(time=at, open=o, high=max(o, close), low=min(o, close), close=close, volume=volume)


def _fill(n: int, side: Side, price: float, *, bot: str = "b1", at: datetime = T0, reason: FillReason | None = None,
          quantity: float = 10.0, fee: float = 0.0) -> Fill:  # fmt: skip
    kind = reason or (FillReason.ENTRY if side is Side.BUY else FillReason.EXIT)
    return Fill(fill_id=f"f{n}", order_id=f"o{n}", event_id=f"e{n}", symbol="XYZ", side=side, quantity=quantity,
                price=price, fee=fee, reason=kind, time=at, bot_id=bot)  # fmt: skip


# ---- the market rules on one bar at a time -------------------------------------------------------------------


def test_minute_bars_use_the_source_threshold_and_daily_bars_their_own() -> None:
    watch = MarketWatch()
    assert watch.bar("M", _bar(T0, 100.0)) == []
    assert watch.bar("M", _bar(T0 + timedelta(minutes=1), 104.99)) == []
    assert watch.bar("M", _bar(T0 + timedelta(minutes=2), 100.0)) == []
    [move] = watch.bar("M", _bar(T0 + timedelta(minutes=3), 105.0))
    assert move.rule is Rule.PRICE_MOVE and move.severity is Severity.HIGH and move.evidence.value == pytest.approx(5.0)
    [crash] = watch.bar("M", _bar(T0 + timedelta(minutes=4), 105.0 * 0.89))  # 11 %: 2x the 5 % is CRITICAL
    assert crash.severity is Severity.CRITICAL

    daily = MarketWatch()
    monday = T0.replace(hour=21)
    assert daily.bar("D", _bar(monday - timedelta(days=3), 100.0)) == []  # the Friday before
    assert daily.bar("D", _bar(monday, 107.9)) == []  # a weekend apart, under 8 %
    [jump] = daily.bar("D", _bar(monday + timedelta(days=1), 107.9 * 1.08))
    assert jump.severity is Severity.HIGH and jump.at_s == (monday + timedelta(days=1)).timestamp()
    assert daily.bar("D", _bar(monday + timedelta(days=9), 200.0)) == []  # a gap in the data is not a move
    assert daily.bar("D", _bar(monday + timedelta(days=9), 50.0)) == []  # a redelivered bar is ignored


def test_a_volume_spike_needs_a_full_window_and_ten_times_its_mean() -> None:
    config = MarketWatchConfig(volume_window_bars=20)
    watch = MarketWatch(config)
    days = [T0 + timedelta(days=i) for i in range(22)]
    for i in range(20):
        assert watch.bar("V", _bar(days[i], 100.0, volume=1_000.0 + i)) == []
    volumes = [1_000.0 + i for i in range(20)]
    assert watch.bar("V", _bar(days[20], 100.0, volume=sum(volumes) / 20 * 9.99)) == []
    volumes = [*volumes[1:], sum(volumes) / 20 * 9.99]  # the previous 20 bars, the one before included
    [spike] = watch.bar("V", _bar(days[21], 100.0, volume=sum(volumes) / 20 * 10.5))
    assert spike.rule is Rule.VOLUME_SPIKE and spike.severity is Severity.LOW


# ---- the bots' trading from their fills ----------------------------------------------------------------------


def test_closed_trades_realise_their_pnl_fees_included_and_fills_count_once() -> None:
    trades = BotTrades()
    buy = _fill(1, Side.BUY, 100.0, fee=1.0, quantity=10)
    assert trades.add([buy, buy], open_price=99.0) == ["b1"]
    assert trades.fills["b1"][0].slippage_pct == pytest.approx(100 / 99 * 100 - 100)  # bought above the open
    trades.add([_fill(2, Side.SELL, 90.0, fee=0.5, quantity=4)], open_price=90.0)
    [closed] = trades.closed["b1"]
    assert closed.pnl == pytest.approx(4 * 90 - 0.5 - 4 * (1_001 / 10))
    trades.add([_fill(3, Side.SELL, 120.0, quantity=6, reason=FillReason.TAKE_PROFIT)], open_price=100.0)
    assert trades.closed["b1"][-1].pnl == pytest.approx(6 * 120 - 6 * 100.1)
    assert trades.fills["b1"][-1].slippage_pct == 0.0  # a target fills at its level
    trades.add([_fill(4, Side.SELL, 50.0, quantity=3)])  # nothing left to close: not a closed trade
    assert len(trades.closed["b1"]) == 2 and len(trades.fills["b1"]) == 4


# ---- the watch on a real pipeline ----------------------------------------------------------------------------


class Collected:
    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []

    async def __call__(self, event: Mapping[str, Any]) -> None:
        parse_event(event)  # every event the watch makes is valid
        self.events.append(event)


async def _open(tmp_path: Path, at: datetime) -> Pipeline:
    return await Pipeline.open(Settings(data_dir=tmp_path), clock=SimulatedClock(at))


async def test_the_aapl_crash_blocks_new_entries_for_thirty_minutes_then_lifts(tmp_path: Path) -> None:
    bars = symbol_bars(load_bundled_daily(["AAPL"]), "AAPL", last=CRASH + 1)
    pipeline = await _open(tmp_path, bars[0].time)
    try:
        feed = pipeline.market_feed()
        for bar in bars[:CRASH]:
            await feed.bar("AAPL", bar)
        assert not [d for d in await pipeline.services.store.decisions() if d.event_type == "ANOMALY_DETECTED"]
        crash = bars[CRASH]
        await feed.bar("AAPL", crash)

        [anomaly] = [d for d in await pipeline.services.store.decisions() if d.event_type == "ANOMALY_DETECTED"]
        assert anomaly.event_id == "anomaly-market.price_move-AAPL-20130124T210000"
        assert anomaly.outcome is Outcome.APPLIED and anomaly.operation is not None
        assert anomaly.operation["severity"] == "HIGH"
        assert anomaly.operation["evidence"]["value"] == pytest.approx(-12.3558, abs=1e-3)
        status = (await pipeline.trading.states()).effective("AAPL")
        assert status.state is TradingState.REDUCING and status.until == crash.time + timedelta(minutes=30)

        entry = await pipeline.submit(signal("aapl-after-the-crash", crash))
        assert entry.outcome is not Outcome.ORDERED and "REDUCING" in entry.reason.upper()

        await feed.bar("AAPL", bars[CRASH + 1])  # the next day: the cooldown is over
        assert (await pipeline.trading.states()).effective("AAPL").state is TradingState.ACTIVE
        again = await pipeline.submit(signal("aapl-next-day", bars[CRASH + 1]))
        assert "REDUCING" not in again.reason.upper()
    finally:
        await pipeline.close()


async def test_a_losing_streak_stops_the_bot_once_and_is_not_reported_again(tmp_path: Path) -> None:
    pipeline = await _open(tmp_path, T0)
    try:
        await pipeline.bots.register(
            [Bot(bot_id="b1", strategy="t", allocation=0.2, since=T0), Bot(bot_id="b2", strategy="t", allocation=0.2,
                                                                               since=T0)],
            actor="test", reason="two bots",
        )  # fmt: skip
        collected = Collected()
        watch = AnomalyWatch(pipeline.bots, pipeline.services.store, collected)
        n = 0
        for trade in range(10):  # 9 losing round trips of b1 (HIGH), one winner; b2 wins every time
            at = T0 + timedelta(days=trade)
            exit_price = 110.0 if trade == 4 else 95.0
            fills = [_fill(n := n + 1, Side.BUY, 100.0, at=at), _fill(n := n + 1, Side.SELL, exit_price, at=at),
                     _fill(n := n + 1, Side.BUY, 100.0, at=at, bot="b2"),
                     _fill(n := n + 1, Side.SELL, 101.0, at=at, bot="b2")]  # fmt: skip
            await watch.bar("XYZ", _bar(at, 100.0), fills)
        streaks = [e for e in collected.events if e["payload"]["rule"] == Rule.LOSS_STREAK.value]
        assert [(e["bot_id"], e["payload"]["severity"]) for e in streaks] == [("b1", "MEDIUM"), ("b1", "HIGH")]
        assert streaks[-1]["priority"] == "high" and streaks[-1]["payload"]["evidence"]["value"] == 9.0
        assert (streaks[-1]["causation_id"], streaks[-1]["correlation_id"]) == ("f38", "e38")  # b1's last exit

        clock = pipeline.services.clock
        assert isinstance(clock, SimulatedClock)
        clock.set(T0 + timedelta(days=9))
        decision = await pipeline.submit(streaks[-1])  # the anomaly flow answers it by the rules: b1 stops
        assert decision.outcome is Outcome.APPLIED
        states = {bot.bot_id: bot.state for bot in await pipeline.bots.bots()}
        assert states == {"b1": BotState.STOPPED, "b2": BotState.RUNNING}
    finally:
        await pipeline.close()


async def test_a_bot_that_reported_and_went_silent_is_an_anomaly_and_one_that_never_reported_is_not(
    tmp_path: Path,
) -> None:
    pipeline = await _open(tmp_path, T0)
    try:
        bots = [Bot(bot_id=b, strategy="t", allocation=0.1, since=T0) for b in ("talker", "quiet", "flaky")]
        await pipeline.bots.register(bots, actor="test", reason="three bots")
        store = pipeline.services.store
        await store.put_value(STATUS_KEY.format(bot_id="talker"), {"status": "heartbeat", "error_rate": None}, T0)
        await store.put_value(STATUS_KEY.format(bot_id="flaky"), {"status": "running", "error_rate": 0.5}, T0)
        collected = Collected()
        watch = AnomalyWatch(pipeline.bots, store, collected)
        await watch.advance(T0 + timedelta(minutes=14))
        assert [(e["bot_id"], e["payload"]["rule"], e["payload"]["severity"]) for e in collected.events] == [
            ("flaky", "bot.api_error_rate", "HIGH")
        ]
        await watch.advance(T0 + timedelta(minutes=15))
        silent = [(e["bot_id"], e["payload"]["severity"]) for e in collected.events
                  if e["payload"]["rule"] == "bot.heartbeat_missing"]  # fmt: skip
        assert silent == [("talker", "HIGH"), ("flaky", "HIGH")]  # "quiet" never reported: not judged
        await watch.advance(T0 + timedelta(minutes=16))
        assert len(collected.events) == 3  # still silent: not reported again
    finally:
        await pipeline.close()


async def test_without_act_the_history_is_kept_and_nothing_is_submitted(tmp_path: Path) -> None:
    pipeline = await _open(tmp_path, T0)
    try:
        collected = Collected()
        watch = AnomalyWatch(pipeline.bots, pipeline.services.store, collected)
        day = T0.replace(hour=21)
        await watch.bar("X", _bar(day, 100.0), [], act=False)
        await watch.bar("X", _bar(day + timedelta(days=1), 120.0), [], act=False)
        assert collected.events == []
        await watch.bar("X", _bar(day + timedelta(days=2), 100.0), [])
        [event] = collected.events
        assert event["id"] == "anomaly-market.price_move-X-20240306T213000" and event["symbols"] == ["X"]
    finally:
        await pipeline.close()


def test_an_anomaly_event_carries_finite_evidence_only() -> None:
    watch = MarketWatch()
    watch.bar("E", _bar(T0, 100.0))
    [finding] = watch.bar("E", _bar(T0 + timedelta(minutes=1), 94.0))
    event = anomaly_event(finding, T0 + timedelta(minutes=1), symbol="E")
    parsed = parse_event(event)
    assert parsed.priority == "high" and event["payload"]["evidence"]["basis"] == 100.0
