"""The session's context at its start: the book from the durable store, the rest from the hot store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.context import OperatingMode
from state.context_loader import (
    DAY_START_EQUITY_KEY,
    FAILED_SESSIONS_COUNTER,
    TRADING_STATE_KEY,
    VIX_KEY,
    ContextLoader,
    ContextPolicy,
)
from state.events import Bar
from state.hot import InMemoryHotStore
from state.orders import Position
from state.store.sqlite import SqliteStore
from state.tiered_hot import TieredHot
from state.trading import TradingState, TradingStates, TradingStatus

T0 = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)


def bar(day: int, close: float) -> Bar:
    return Bar(time=T0 + timedelta(days=day), open=close, high=close, low=close, close=close, volume=1.0)


def held(symbol: str, quantity: float, avg_price: float) -> Position:
    return Position(symbol=symbol, quantity=quantity, avg_price=avg_price, stop_loss_price=None,
                    take_profit_price=None, opened_at=T0, opened_by_event=f"open-{symbol}")  # fmt: skip


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[ContextLoader, TieredHot, SqliteStore, SimulatedClock]]:
    clock = SimulatedClock(T0 + timedelta(days=2))
    config = DeliberationConfig()
    policy = ContextPolicy(config.postures, config.vix_thresholds, config.failed_sessions_to_defensive,
                           OperatingMode.PAPER, starting_cash=100_000.0)  # fmt: skip
    async with SqliteStore(tmp_path / "records.db", clock=clock) as durable:
        hot = TieredHot(InMemoryHotStore(clock), clock, mirror=durable)
        yield ContextLoader(hot, durable, clock, policy), hot, durable, clock


async def test_the_book_is_marked_at_the_last_bars_of_the_event_symbol_and_of_the_others_held(
    stores: tuple[ContextLoader, TieredHot, SqliteStore, SimulatedClock],
) -> None:
    loader, hot, durable, _ = stores
    await durable.replace_positions([held("AAPL", 10, 100.0), held("MSFT", 5, 50.0), held("TSLA", 2, 200.0)])
    await durable.save_cash(1_000.0, T0)
    for day, close in [(0, 101.0), (1, 102.0)]:
        await hot.push_bar("AAPL", bar(day, close))
    await hot.push_bar("MSFT", bar(1, 55.0))
    await durable.save_bar("TSLA", bar(1, 210.0))  # in the durable copy only (written while Redis was away)
    await hot.set_value(VIX_KEY, 14.0)
    await hot.set_value(DAY_START_EQUITY_KEY, 3_000.0)
    await durable.set_counter(FAILED_SESSIONS_COUNTER, 1)

    context = await loader.load("AAPL")

    assert context.portfolio.marks == {"AAPL": 102.0, "MSFT": 55.0, "TSLA": 210.0}
    assert context.portfolio.equity == 1_000.0 + 10 * 102.0 + 5 * 55.0 + 2 * 210.0
    assert context.portfolio.day_start_equity == 3_000.0 and context.portfolio.cash == 1_000.0
    assert context.market is not None and [b.close for b in context.market.bars] == [101.0, 102.0]
    assert context.market.age_s == 24 * 3600.0
    assert context.vix == 14.0 and context.consecutive_failures == 1 and context.mode is OperatingMode.PAPER
    assert context.source == "durable fallback for bars:TSLA: durable (missing in the hot store)"


async def test_without_a_book_or_hot_values_the_defaults_apply(
    stores: tuple[ContextLoader, TieredHot, SqliteStore, SimulatedClock],
) -> None:
    loader, _, _, _ = stores
    context = await loader.load(None)
    assert context.portfolio.cash == context.portfolio.equity == context.portfolio.day_start_equity == 100_000.0
    assert context.market is None and context.vix is None and str(context.posture) == "defensive"
    assert context.mode is OperatingMode.PAPER and context.source == "hot"
    assert context.trading.account.state is TradingState.ACTIVE


async def test_the_mirrored_trading_state_is_read_and_a_corrupt_copy_halts(
    stores: tuple[ContextLoader, TieredHot, SqliteStore, SimulatedClock],
) -> None:
    loader, hot, _, clock = stores
    reducing = TradingStatus(scope="AAPL", state=TradingState.REDUCING, reason="r", actor="op", since=clock.now())
    states = TradingStates.of([reducing], clock.now())
    await hot.set_value(TRADING_STATE_KEY, states.model_dump(mode="json"))
    context = await loader.load("AAPL")
    assert context.trading.effective("AAPL").state is TradingState.REDUCING
    assert context.trading.effective("MSFT").state is TradingState.ACTIVE
    await hot.set_value(TRADING_STATE_KEY, {"account": "garbage"})
    context = await loader.load("AAPL")
    assert context.trading.account.state is TradingState.HALTED
    assert "does not parse" in context.trading.account.reason
