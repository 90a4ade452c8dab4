"""The tiered hot context: each read of a snapshot falls back to the durable copy on its own, and says so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from state.clock import SimulatedClock
from state.events import Bar
from state.hot import HotSnapshot, HotStoreUnavailableError, InMemoryHotStore
from state.store.sqlite import SqliteStore
from state.tiered_hot import HOT, TieredHot

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def bar(minutes: int, close: float) -> Bar:
    return Bar(time=T0 + timedelta(minutes=minutes), open=close, high=close, low=close, close=close, volume=1.0)


class SwitchableHot(InMemoryHotStore):
    """In memory, but unreachable while `down`."""

    down = False

    async def snapshot(self, bars: Sequence[str], last_bars: Sequence[str], values: Sequence[str]) -> HotSnapshot:
        if self.down:
            raise HotStoreUnavailableError("connection refused")
        return await super().snapshot(bars, last_bars, values)


@pytest.fixture
async def tiered(tmp_path: Path) -> AsyncIterator[tuple[TieredHot, SwitchableHot, SqliteStore]]:
    clock = SimulatedClock(T0)
    async with SqliteStore(tmp_path / "records.db", clock=clock) as durable:
        hot = SwitchableHot(clock)
        yield TieredHot(hot, clock, mirror=durable), hot, durable


async def test_everything_in_the_hot_store_is_served_hot(tiered: tuple[TieredHot, SwitchableHot, SqliteStore]) -> None:
    store, _, _ = tiered
    await store.push_bar("AAPL", bar(0, 10.0))
    await store.push_bar("MSFT", bar(0, 20.0))
    await store.set_value("vix", 15.0)
    found, served = await store.snapshot_served(["AAPL"], ["MSFT", "AAPL"], ["vix", "never"])
    assert found.bars["AAPL"] == (bar(0, 10.0),)
    assert found.last_bars == {"MSFT": bar(0, 20.0), "AAPL": bar(0, 10.0)}
    assert found.values == {"vix": 15.0, "never": None}
    assert served == {"bars:AAPL": HOT, "bars:MSFT": HOT, "vix": HOT, "never": HOT}  # absent everywhere: hot


async def test_a_key_missing_in_the_hot_store_alone_comes_from_the_durable_copy(
    tiered: tuple[TieredHot, SwitchableHot, SqliteStore],
) -> None:
    store, _, durable = tiered
    await store.set_value("vix", 15.0)
    await durable.put_value("mode", "paper", T0)  # written while the hot store was away
    await durable.save_bar("AAPL", bar(0, 10.0))
    found, served = await store.snapshot_served(["AAPL"], [], ["vix", "mode"])
    assert found.values == {"vix": 15.0, "mode": "paper"}
    assert found.bars["AAPL"] == (bar(0, 10.0),)
    assert served["vix"] == HOT
    assert str(served["mode"]) == "durable (missing or expired in the hot store)"
    assert str(served["bars:AAPL"]) == "durable (missing in the hot store)"


async def test_with_the_hot_store_down_every_read_comes_from_the_durable_copy(
    tiered: tuple[TieredHot, SwitchableHot, SqliteStore],
) -> None:
    store, hot, _ = tiered
    await store.push_bar("AAPL", bar(0, 10.0))
    await store.push_bar("AAPL", bar(1, 11.0))
    await store.set_value("vix", 15.0)
    hot.down = True
    found, served = await store.snapshot_served(["AAPL"], ["AAPL"], ["vix"])
    assert found.bars["AAPL"] == (bar(0, 10.0), bar(1, 11.0))
    assert found.last_bars["AAPL"] == bar(1, 11.0)
    assert found.values["vix"] == 15.0
    assert all(s.source == "durable" and "hot store unavailable" in str(s) for s in served.values())


async def test_without_a_mirror_an_unreachable_hot_store_raises(tmp_path: Path) -> None:
    hot = SwitchableHot(SimulatedClock(T0))
    hot.down = True
    with pytest.raises(HotStoreUnavailableError):
        await TieredHot(hot, SimulatedClock(T0)).snapshot_served(["AAPL"], [], [])


async def test_durable_copies_handed_in_are_used_and_only_when_a_value_is_missing(
    tiered: tuple[TieredHot, SwitchableHot, SqliteStore],
) -> None:
    store, _, _ = tiered
    await store.set_value("vix", 15.0)
    asked: list[str] = []

    async def copies() -> dict[str, object]:
        asked.append("copies")
        return {"mode": "manage_only", "vix": 99.0}

    found, served = await store.snapshot_served([], [], ["vix"], copies)
    assert found.values == {"vix": 15.0} and asked == []  # nothing missing: the copies are not even asked for
    found, served = await store.snapshot_served([], [], ["vix", "mode", "never"], copies)
    assert found.values == {"vix": 15.0, "mode": "manage_only", "never": None} and asked == ["copies"]
    assert served["vix"] == HOT and served["never"] == HOT
    assert str(served["mode"]) == "durable (missing or expired in the hot store)"


async def test_a_batch_holds_its_writes_until_its_end_or_a_read_that_needs_them(
    tiered: tuple[TieredHot, SwitchableHot, SqliteStore],
) -> None:
    store, hot, durable = tiered
    async with store.batch() as held:
        await store.push_bar("AAPL", bar(0, 10.0))
        await store.push_bar("MSFT", bar(0, 20.0))
        await store.set_value("vix", 14.0)
        await durable.save_mark("AAPL", 10.0, bar(0, 10.0).time)
        assert await hot.bars("AAPL") == () and await durable.recent_bars("MSFT", 5) == []
        assert await store.bars("AAPL") == (bar(0, 10.0),)  # the read sends the batch first
        assert await durable.recent_bars("MSFT", 5) == [bar(0, 20.0)]
        assert await durable.marks() == {"AAPL": (10.0, bar(0, 10.0).time)}  # a statement writes the marks first
        await store.push_bar("AAPL", bar(0, 10.0))  # a redo: refused when sent, kept aside for the caller
        await store.push_bar("AAPL", bar(1, 11.0))
        await durable.save_mark("AAPL", 11.0, bar(1, 11.0).time)
    assert held.refused == [("AAPL", bar(0, 10.0))]
    assert await hot.bars("AAPL") == (bar(0, 10.0), bar(1, 11.0))
    assert await durable.recent_bars("AAPL", 5) == [bar(0, 10.0), bar(1, 11.0)]
    assert await hot.get_value("vix") == 14.0 and await durable.get_value("vix") is not None
    assert await durable.marks() == {"AAPL": (11.0, bar(1, 11.0).time)}
