"""Fan-out of live updates to the browsers that watch (`/api/stream`): one bounded queue per subscriber.

Decisions that must not be silently changed:
- Publishing never waits: it is called from the pipeline's listeners, and the pipeline must not slow down
  because a browser does. A subscriber whose queue is full loses its oldest update and is told how many it
  lost (`Subscription.take_dropped`), so it can read the panels again instead of showing a gap as if complete.
- A subscriber is removed when its stream ends, however it ends (the client left, the server stops).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

STREAM_KEY = "stream"  # ServerContext.extras key of the app's broadcaster


@dataclass(frozen=True, slots=True)
class Update:
    """One live update: `kind` names it (decision, alert, approvals, status), `data` is its JSON body."""

    kind: str
    data: dict[str, Any]


class Subscription:
    """One watcher's updates, oldest first, at most `size` held."""

    def __init__(self, size: int) -> None:
        self._held: deque[Update] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self._dropped = 0
        self.closed = False

    def offer(self, update: Update) -> None:
        if len(self._held) == self._held.maxlen:
            self._dropped += 1  # the deque drops the oldest on append
        self._held.append(update)
        self._ready.set()

    def take_dropped(self) -> int:
        """How many updates were lost since the last call (a full queue dropped its oldest)."""
        dropped, self._dropped = self._dropped, 0
        return dropped

    @property
    def pending(self) -> int:
        return len(self._held)

    async def next(self) -> Update | None:
        """The next update, waiting for one; None once the subscription is closed and drained."""
        while not self._held:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._held.popleft()

    def close(self) -> None:
        self.closed = True
        self._ready.set()


class Broadcaster:
    """Publish to every subscriber. `on_first` runs when the first subscriber arrives and `on_last` when the
    last one leaves, so what feeds the broadcaster (a store watcher) runs only while somebody watches."""

    def __init__(
        self,
        queue_size: int,
        *,
        on_first: Callable[[], None] | None = None,
        on_last: Callable[[], None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._size = queue_size
        self._subscribers: set[Subscription] = set()
        self._on_first = on_first
        self._on_last = on_last
        self._primed = asyncio.Event()

    def mark_primed(self) -> None:
        """What feeds the broadcaster has read its starting point: from now on, every change is published."""
        self._primed.set()

    async def primed(self, timeout_s: float) -> bool:
        """Wait until the feeder has its starting point (so what a subscriber reads next is not missed)."""
        try:
            await asyncio.wait_for(self._primed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        update = Update(kind, data)
        for subscription in self._subscribers:
            subscription.offer(update)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self._size)
        self._subscribers.add(subscription)
        if len(self._subscribers) == 1 and self._on_first is not None:
            self._on_first()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self._subscribers:
            return
        subscription.close()
        self._subscribers.discard(subscription)
        if not self._subscribers:
            self._primed.clear()
            if self._on_last is not None:
                self._on_last()

    @asynccontextmanager
    async def subscription(self) -> AsyncIterator[Subscription]:
        """A subscription for the life of the block (removed however the block ends)."""
        subscription = self.subscribe()
        try:
            yield subscription
        finally:
            self.unsubscribe(subscription)

    def close(self) -> None:
        """End every subscription (the server stops)."""
        for subscription in list(self._subscribers):
            self.unsubscribe(subscription)
