"""WaveOrdering on its own: sessions of a wave read first, then write one at a time, in the wave's order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graphs.deliberation.ordering import UNORDERED, WaveOrdering

DEADLOCK_GUARD_S = 10.0  # a bound on a hang, never reached when the ordering is right


async def _session(
    ordering: WaveOrdering, event_id: str, log: list[str], *, loads: asyncio.Event | None = None, fails: bool = False
) -> None:
    """A session as the graph runs one: load the context, deliberate, then write in turn."""
    async with ordering.session(event_id):
        if loads is not None:
            await loads.wait()
        if fails:
            raise RuntimeError(f"{event_id} crashed")
        ordering.context_loaded(event_id)
        log.append(f"read {event_id}")
        await asyncio.sleep(0)  # the role calls
        await ordering.wait_turn(event_id)
        log.append(f"write {event_id}")
        await asyncio.sleep(0)  # execute, persist
        ordering.finished(event_id)


async def _wave(
    ordering: WaveOrdering, ids: list[str], concurrency: int, log: list[str], **sessions: dict[str, Any]
) -> None:
    async with ordering.wave(ids, concurrency):
        runs = [_session(ordering, event_id, log, **sessions.get(event_id, {})) for event_id in ids]
        await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), DEADLOCK_GUARD_S)


async def test_no_session_writes_before_every_session_of_the_wave_has_read() -> None:
    ordering, log, slow = WaveOrdering(), list[str](), asyncio.Event()
    wave = asyncio.create_task(_wave(ordering, ["a", "b", "c"], 3, log, c={"loads": slow}))
    for _ in range(20):  # let a and b get as far as they can
        await asyncio.sleep(0)
    assert log == ["read a", "read b"]
    slow.set()
    await wave
    assert log == ["read a", "read b", "read c", "write a", "write b", "write c"]


@pytest.mark.parametrize("concurrency", [1, 2, 5])
async def test_a_wave_larger_than_its_concurrency_still_writes_in_order(concurrency: int) -> None:
    ordering, log = WaveOrdering(), list[str]()
    ids = ["a", "b", "c", "d", "e"]
    await _wave(ordering, ids, concurrency, log)
    assert [line for line in log if line.startswith("write")] == [f"write {i}" for i in ids]
    assert log.index("read e") < log.index("write a")


async def test_a_session_that_crashes_releases_its_turn() -> None:
    ordering, log = WaveOrdering(), list[str]()
    await _wave(ordering, ["a", "b", "c"], 2, log, a={"fails": True})
    assert log == ["read b", "read c", "write b", "write c"]


async def test_writes_wait_for_every_earlier_session_even_after_a_later_one_crashed() -> None:
    ordering, log, slow = WaveOrdering(), list[str](), asyncio.Event()
    wave = asyncio.create_task(_wave(ordering, ["a", "b", "c"], 3, log, a={"loads": slow}, b={"fails": True}))
    for _ in range(20):
        await asyncio.sleep(0)
    assert log == ["read c"]  # b is done (crashed), but a has not written: c must wait for a
    slow.set()
    await wave
    assert log == ["read c", "read a", "write a", "write c"]


async def test_sessions_outside_the_open_wave_and_the_default_are_not_ordered() -> None:
    ordering = WaveOrdering()
    await asyncio.wait_for(ordering.wait_turn("stray"), DEADLOCK_GUARD_S)
    await asyncio.wait_for(UNORDERED.wait_turn("any"), DEADLOCK_GUARD_S)
    with pytest.raises(RuntimeError, match="no wave is open"):
        async with ordering.session("stray"):
            pass


async def test_a_wave_needs_distinct_event_ids() -> None:
    with pytest.raises(ValueError, match="distinct"):
        async with WaveOrdering().wave(["a", "a"], 2):
            pass
