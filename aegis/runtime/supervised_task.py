"""A long-running task that says it is making progress and can be restarted when it stops making any.

The task's body receives the `SupervisedTask` and calls `beat()` at each unit of progress (a feed: each tick
applied). The health monitor reads `beat_age_s()`; past its limit it calls `restart()`, which cancels the
body where it hangs and starts it again. The body must therefore resume where it stopped (a feed keeps its
position outside the body) and redo its unfinished unit idempotently. `wait()` returns when a run of the
body ends by itself (and raises what it raised); a restart is not an end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Body = Callable[["SupervisedTask"], Coroutine[Any, Any, None]]


class SupervisedTask:
    def __init__(self, name: str, body: Body, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._body = body
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None
        self._last_beat: float | None = None
        self._restarting = False
        self.restarts = 0
        self.beats = 0

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._last_beat = self._monotonic()  # the start counts as progress: a body gets a full limit to begin
        self._task = asyncio.create_task(self._body(self), name=f"supervised:{self.name}")

    def beat(self) -> None:
        self.beats += 1
        self._last_beat = self._monotonic()

    def beat_age_s(self) -> float | None:
        """Seconds since the last beat (or the start); None before the first start."""
        return None if self._last_beat is None else self._monotonic() - self._last_beat

    @property
    def finished(self) -> bool:
        """The body ended by itself (successfully or not)."""
        return self._task is not None and self._task.done() and not self._restarting

    @property
    def error(self) -> BaseException | None:
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def restart(self, reason: str) -> None:
        """Cancel the body where it is and start it again (the health monitor, on a stall)."""
        log.warning("restarting %s: %s", self.name, reason)
        self._restarting = True
        try:
            await self.stop()
        finally:
            self._restarting = False
        self.restarts += 1
        self._task = None
        self.start()

    async def stop(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait(self) -> None:
        """Until a run of the body ends by itself (or `stop()`); its error is raised here."""
        while True:
            task = self._task
            if task is None:
                raise RuntimeError(f"{self.name} was never started")
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # this waiter was cancelled, not the body
                if self._restarting or task is not self._task:
                    await asyncio.sleep(0)  # a restart cancelled this run: wait for the next one
                    continue
                return  # stopped
            if task is self._task:
                return
