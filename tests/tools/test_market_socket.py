"""The market websocket feed against a real local websocket server that drops, stalls and garbles."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from aegis import Pipeline
from aegis.runtime.feeder import TapeFeeder
from aegis.runtime.live_feed import FeedGaveUpError, LiveFeedRunner
from state.bus.base import EventBus
from state.clock import SimulatedClock
from state.events import Bar
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars
from tools.feeds.config import FeedsConfig
from tools.feeds.live import Connection, DeadLetter, FeedEvent, Signal
from tools.feeds.market_socket import Gap, MarketSocketSource, MessageMapping

T0 = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
NOW = SimulatedClock(T0 + timedelta(hours=1))  # the feed's clock: after every bar the server sends
FAST = FeedsConfig(
    max_reconnects=3, backoff_base_s=1.0, backoff_max_s=4.0, heartbeat_s=0.05, pong_timeout_s=0.5, data_silence_s=0.3
)
Script = Callable[[ServerConnection, int], Awaitable[None]]


def bar_message(symbol: str, minute: int, seq: int | None = None, close: float = 100.0) -> str:
    message: dict[str, Any] = {
        "type": "bar", "symbol": symbol, "time": (T0 + timedelta(minutes=minute)).isoformat(),
        "open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1000,
    }  # fmt: skip
    if seq is not None:
        message["seq"] = seq
    return json.dumps(message)


class LocalServer:
    """A websocket server on a free loopback port; `script(connection, n)` plays the n-th connection (1-based).
    `close()` stops it listening: later connections are refused."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self.connections = 0
        self.subscriptions: list[Any] = []
        self.server: Server | None = None

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        self.subscriptions.append(json.loads(await connection.recv()))
        await self._script(connection, self.connections)

    async def __aenter__(self) -> LocalServer:
        self.server = await serve(self._handle, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/stream?apikey=SECRET123"

    def close(self) -> None:
        assert self.server is not None
        self.server.close(close_connections=False)

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def drop(connection: ServerConnection) -> None:
    connection.transport.abort()  # no close frame: a dropped connection


async def stall(connection: ServerConnection) -> None:
    await connection.wait_closed()  # answers pings, sends nothing


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def collect(signals: AsyncIterator[Signal], until: str = "gave_up") -> list[Signal]:
    seen: list[Signal] = []
    async with asyncio.timeout(10):
        async for signal in signals:
            seen.append(signal)
            if isinstance(signal, Connection) and signal.state == until:
                break
    return seen


async def test_a_drop_a_garbled_message_a_gap_and_a_stall_then_it_gives_up_after_its_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def script(connection: ServerConnection, n: int) -> None:
        if n == 1:
            await connection.send(bar_message("AAPL", 1, seq=1))
            await connection.send(bar_message("MSFT", 1, seq=2))
            await connection.send("{not json")
            await connection.send(bar_message("AAPL", 2, seq=3, close=-5.0))  # a bar that does not validate
            await connection.send(bar_message("MSFT", 600))  # ten hours ahead of the feed's clock
            await connection.send(json.dumps({"type": "heartbeat"}))
            drop(connection)
        elif n == 2:
            await connection.send(bar_message("AAPL", 1, seq=3))  # sent again after the reconnect: skipped
            await connection.send(bar_message("AAPL", 4, seq=6))  # 2 bars and 2 messages missing
            await stall(connection)
            server.close()  # nobody answers any more

    sleep = FakeSleep()
    async with LocalServer(script) as server:
        source = MarketSocketSource(server.url, ["AAPL", "MSFT"], FAST, NOW, sleep=sleep,
                                    random=lambda: 1.0)  # fmt: skip
        with caplog.at_level(logging.INFO, logger="tools.feeds.market_socket"):
            seen = await collect(source.signals())

    assert server.subscriptions[0] == {"type": "subscribe", "symbols": ["AAPL", "MSFT"]}
    events = [s.event for s in seen if isinstance(s, FeedEvent)]
    assert [e["id"] for e in events] == [
        "websocket-AAPL-20261204T143100Z", "websocket-MSFT-20261204T143100Z", "websocket-AAPL-20261204T143400Z"
    ]  # fmt: skip
    assert {e["source"] for e in events} == {"websocket"}
    letters = [s for s in seen if isinstance(s, DeadLetter)]
    assert [letter.reason.split(":")[0] for letter in letters] == [
        "not JSON",
        "unreadable bar",
        "bar time 2026-12-05T00",
    ]
    assert letters[2].reason.endswith("is in the future (now 2026-12-04T15:30:00+00:00)")
    assert letters[1].reason == "unreadable bar: open: Input should be greater than 0"
    assert source.gaps == [
        Gap("*", "sequence", "3", "6", 2),
        Gap("AAPL", "time", (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(minutes=4)).isoformat(), 2),
    ]
    states = [s.state for s in seen if isinstance(s, Connection) and not s.detail.startswith("pong")]
    assert any(isinstance(s, Connection) and s.detail.startswith("pong in") for s in seen)  # the stall: pings
    assert states == ["connected", "heartbeat", "disconnected", "reconnecting", "connected", "disconnected"] + [
        "reconnecting", "disconnected"
    ] * 3 + ["gave_up"]  # fmt: skip
    # data came after the first reconnect: the count started again; base 1 s doubling, capped at 4 s
    assert sleep.delays == [1.0, 1.0, 2.0, 4.0]
    lines = [r.getMessage() for r in caplog.records]
    assert "websocket: connection lost: dropped (no close frame from the server)" in lines
    stalled = [line for line in lines if "stalled" in line]
    assert len(stalled) == 1 and stalled[0].startswith("websocket: connection lost: stalled: no data for 0.3 s")
    assert "pings answered meanwhile" in stalled[0]
    assert lines[-1] == "websocket: gave up after 3 reconnects without data (last: cannot connect: " + lines[-1].split(
        "cannot connect: ")[1]  # fmt: skip
    assert not [line for line in lines if "SECRET123" in line]
    print("\n".join(f"{r.levelname:7} {r.name}: {r.getMessage()}" for r in caplog.records))


async def test_backoff_doubles_to_its_cap_and_the_jitter_takes_at_most_its_share() -> None:
    config = FeedsConfig(backoff_base_s=1.0, backoff_max_s=60.0, backoff_jitter=0.5)
    source = MarketSocketSource("ws://127.0.0.1:9/", ["AAPL"], config, SimulatedClock(T0), random=lambda: 1.0)
    assert [source.backoff_s(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    source.random = lambda: 0.0
    assert [source.backoff_s(n) for n in (1, 7)] == [0.5, 30.0]
    assert config.max_reconnects == 10  # orchestrator v2's figure


async def test_the_backfill_hook_fills_a_gap_before_the_bar_that_revealed_it() -> None:
    asked: list[Gap] = []

    async def backfill(gap: Gap) -> Sequence[Bar]:
        asked.append(gap)
        return [Bar(time=T0 + timedelta(minutes=m), open=1, high=2, low=1, close=2, volume=5) for m in (3, 2)]

    async def script(connection: ServerConnection, n: int) -> None:
        for minute in (1, 4):
            await connection.send(bar_message("AAPL", minute))
        await connection.close()

    async with LocalServer(script) as server:
        source = MarketSocketSource(server.url, ["AAPL"], FAST.model_copy(update={"max_reconnects": 0}),
                                    NOW, backfill=backfill, sleep=FakeSleep())  # fmt: skip
        seen = await collect(source.signals())
    minutes = [int(s.event["id"][-5:-3]) for s in seen if isinstance(s, FeedEvent)]
    assert minutes == [31, 32, 33, 34] and len(asked) == 1 and asked[0].missing == 2
    assert [s.detail for s in seen if isinstance(s, Connection) and s.state == "disconnected"] == [
        "closed by the server (code 1000)"
    ]


def test_a_provider_format_is_a_mapping() -> None:
    mapping = MessageMapping(type_field="ev", bar_type="AM", symbol="sym", time="e", epoch_unit="ms",
                             open="o", high="h", low="l", close="c", volume="v", seq=None,
                             subscribe={"action": "subscribe", "params": "$symbols"})  # fmt: skip
    source = MarketSocketSource("ws://x/", ["AAPL"], FAST, SimulatedClock(T0), mapping=mapping)
    symbol, bar, seq = source._bar({"ev": "AM", "sym": "AAPL", "e": 1_733_322_660_000, "o": 1, "h": 2, "l": 1,
                                    "c": 2, "v": 10})  # fmt: skip
    assert (symbol, bar.time, seq) == ("AAPL", datetime(2024, 12, 4, 14, 31, tzinfo=UTC), None)
    assert mapping.subscription(["AAPL"]) == {"action": "subscribe", "params": ["AAPL"]}


class Recorded:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, event: dict[str, Any]) -> str:
        self.published.append(event)
        return str(len(self.published))


async def test_the_runner_applies_ticks_beats_the_tiers_dead_letters_garbage_and_reports_giving_up(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline: Pipeline = await make_pipeline()
    last = bundled_bars()[SESSION_DAY]  # the seeded history ends here; live minute bars follow it
    bars = [last.model_copy(update={"time": last.time + timedelta(seconds=s), "volume": 1000.0}) for s in (1, 2)]

    async def script(connection: ServerConnection, n: int) -> None:
        for bar in bars:
            await connection.send(json.dumps({"type": "bar", "symbol": SYMBOL, **bar.model_dump(mode="json")}))
        await connection.send("\x00garbage")
        drop(connection)
        server.close()

    bus = Recorded()
    async with LocalServer(script) as server:
        config = FAST.model_copy(update={"max_reconnects": 1, "bar_interval_s": 1.0})
        source = MarketSocketSource(server.url, [SYMBOL], config, pipeline.services.clock, sleep=FakeSleep())
        runner = LiveFeedRunner(pipeline, TapeFeeder(pipeline, cast(EventBus, bus)), source, market=True)
        with pytest.raises(FeedGaveUpError, match="gave up after 1 reconnects"):
            await runner.play()
    assert [b.time for b in (await pipeline.services.hot.bars(SYMBOL))[-2:]] == [b.time for b in bars]
    assert runner.stats.events == 2 and runner.stats.heartbeats == 2 and runner.stats.dead_letters == 1
    assert bus.published == [
        {"id": None, "source": "websocket", "unparsed_line": "\x00garbage", "error": bus.published[0]["error"]}
    ]
    decided = await pipeline.services.store.decisions()
    down = [d for d in decided if (d.operation or {}).get("component") == "feed:websocket"]
    assert len(down) == 1
    alerts = await pipeline.services.store.alerts()
    gave_up = [a for a in alerts if a.kind == "feed_gave_up"]
    assert len(gave_up) == 1 and gave_up[0].message.startswith("feed websocket: gave up after 1 reconnects")
    assert (await pipeline.trading.states()).account.state.value == "active"  # the bars kept the tiers' feed heartbeat
