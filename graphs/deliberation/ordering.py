"""When a session may write: at once (live), or in a fixed order within a wave (deterministic replays).

A session reads the stores once, in `load_context` (book, failure streak, recent outcomes, recent entry
order types), and writes in `execute` and `persist`. Sessions run at once would each see whatever the
others had written so far, so a replay would decide differently with the scheduling. The graph's nodes
call three hooks of a `SessionOrdering`:

    load_context ... context_loaded(id)     the session has read everything it will read
    wait_turn(id) risk_guard -> execute -> persist ... finished(id)

- `UNORDERED` (the default, live workers): every hook returns at once.
- `WaveOrdering`: the events of one *wave* (one instant of simulated time) all load their context from the
  same state, deliberate at once, then pass risk_guard -> execute -> persist one at a time in the wave's
  order. Their decisions are then the same at any concurrency: what they saw is the book as of the
  instant's start, and their orders are applied in tape order.

Decisions that must not be silently changed:
- No session of a wave writes before every session of the wave has read its context (or settled
  without reading it, e.g. rejected at normalize).
- Session i starts writing only after sessions 0..i-1 have each left `persist`, or failed.
- A session that fails anywhere releases its turn (`WaveOrdering.session` does it on exit), so a wave
  never waits on a dead session. A session waiting for its turn gives its concurrency slot back, so a
  wave larger than the concurrency still reaches its barrier.

Not ordered: the LLM cost ledger's day total, read with a session's context while others of the wave
may already be charging (their role calls come before their turn); it changes a decision only if the
daily budget runs out in the middle of a wave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from state.clock import monotonic_ms


class SessionOrdering(Protocol):
    def context_loaded(self, event_id: str) -> None:
        """The session has read its context: writes from now on cannot change what it saw."""
        ...

    async def wait_turn(self, event_id: str) -> None:
        """Return when the session may write (risk_guard, execute, persist). Calling it again is free."""
        ...

    def finished(self, event_id: str) -> None:
        """The session has persisted its decision: the next one may write."""
        ...


class Unordered:
    """No ordering: every session reads and writes when it gets there (live workers)."""

    def context_loaded(self, event_id: str) -> None:
        return None

    async def wait_turn(self, event_id: str) -> None:
        return None

    def finished(self, event_id: str) -> None:
        return None


UNORDERED = Unordered()


@dataclass(eq=False)
class SessionTurn:
    """One session's place in its wave."""

    index: int
    loaded: bool = False
    has_turn: bool = False
    holds_slot: bool = False
    waited_ms: float = 0.0  # wall-clock time spent waiting for its turn, not deliberating
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _Wave:
    def __init__(self, event_ids: Sequence[str], concurrency: int) -> None:
        self.turns = {event_id: SessionTurn(index) for index, event_id in enumerate(event_ids)}
        self.in_order = list(self.turns.values())
        self.unloaded = len(self.in_order)
        self.all_loaded = asyncio.Event()
        self.slots = asyncio.Semaphore(concurrency)


class WaveOrdering:
    """Waves of sessions, one wave at a time. Events outside the open wave are not ordered."""

    def __init__(self) -> None:
        self._wave: _Wave | None = None
        self._one_wave_at_a_time = asyncio.Lock()

    @asynccontextmanager
    async def wave(self, event_ids: Sequence[str], concurrency: int) -> AsyncIterator[None]:
        """Order the sessions of `event_ids` (in this order, distinct), at most `concurrency` deliberating."""
        if len(set(event_ids)) != len(event_ids):
            raise ValueError("the event ids of a wave must be distinct")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        async with self._one_wave_at_a_time:
            self._wave = _Wave(event_ids, concurrency)
            if not event_ids:
                self._wave.all_loaded.set()
            try:
                yield
            finally:
                self._wave = None

    @asynccontextmanager
    async def session(self, event_id: str) -> AsyncIterator[SessionTurn]:
        """Run one session of the open wave: wait for a concurrency slot; on exit, however the session
        ended, release its slot and its turn."""
        wave = self._require_wave()
        turn = wave.turns[event_id]
        await wave.slots.acquire()
        turn.holds_slot = True
        try:
            yield turn
        finally:
            self.context_loaded(event_id)
            self._give_back_slot(wave, turn)
            turn.done.set()

    def context_loaded(self, event_id: str) -> None:
        wave, turn = self._find(event_id)
        if wave is None or turn is None or turn.loaded:
            return
        turn.loaded = True
        wave.unloaded -= 1
        if wave.unloaded == 0:
            wave.all_loaded.set()

    async def wait_turn(self, event_id: str) -> None:
        wave, turn = self._find(event_id)
        if wave is None or turn is None or turn.has_turn:
            return
        self.context_loaded(event_id)  # a session settled before load_context never reads
        self._give_back_slot(wave, turn)  # waiting holds no slot: later sessions of the wave can start
        begun = monotonic_ms()
        await wave.all_loaded.wait()
        for earlier in wave.in_order[: turn.index]:  # all of them: one that failed early is done before its turn
            await earlier.done.wait()
        turn.waited_ms += monotonic_ms() - begun
        turn.has_turn = True

    def finished(self, event_id: str) -> None:
        _, turn = self._find(event_id)
        if turn is not None:
            turn.done.set()

    def _find(self, event_id: str) -> tuple[_Wave | None, SessionTurn | None]:
        wave = self._wave
        return (wave, wave.turns.get(event_id)) if wave is not None else (None, None)

    def _require_wave(self) -> _Wave:
        if self._wave is None:
            raise RuntimeError("no wave is open: use `async with ordering.wave(...)` first")
        return self._wave

    @staticmethod
    def _give_back_slot(wave: _Wave, turn: SessionTurn) -> None:
        if turn.holds_slot:
            turn.holds_slot = False
            wave.slots.release()
