"""The bot control: the one writer of the bots' records (registered, stopped, resumed, re-allocated).

Every change goes through `BotControl`, which writes the durable records and their audit entry in one
transaction and then mirrors the registry to the hot store, where sessions read it at their start (the
same pattern as the trading state, `tools.ops.trading`). The CLI, the Python API and the operations flows
(the circuit breaker, the rebalancing) call these methods; nothing else writes a bot.

Decisions that must not be silently changed:
- Every change names an actor and a reason; they are audited with the before and after.
- Allocations of the registered bots never sum past 100 % of equity (the store refuses the write whole).
- Stopping a stopped bot or resuming a running one changes nothing and writes nothing (idempotent), so a
  repeated breaker event or a double click is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from state.bots import Bot, BotBook, BotState
from state.clock import Clock
from state.context_loader import BOTS_KEY
from state.store.base import AuditEntry, DurableStore
from state.tiered_hot import TieredHot

log = logging.getLogger(__name__)


class UnknownBotError(ValueError):
    """An operation named a bot that is not registered."""


class BotControl:
    def __init__(self, store: DurableStore, hot: TieredHot, clock: Clock) -> None:
        self._store = store
        self._hot = hot
        self._clock = clock

    async def bots(self) -> list[Bot]:
        """The durable records (the truth; the hot copy may lag by one write), in registration order."""
        return await self._store.bots()

    async def get(self, bot_id: str) -> Bot:
        bots = await self.bots()
        for bot in bots:
            if bot.bot_id == bot_id:
                return bot
        known = ", ".join(b.bot_id for b in bots) or "none registered"
        raise UnknownBotError(f"no bot {bot_id!r} (bots: {known})")

    async def publish(self) -> BotBook:
        """Mirror the durable records to the hot store (at start: a hot store that lost them learns them)."""
        book = BotBook(bots=tuple(await self.bots()))
        await self._hot.set_value(BOTS_KEY, book.model_dump(mode="json"))
        return book

    async def register(self, bots: Sequence[Bot], *, actor: str, reason: str) -> list[Bot]:
        """Insert or replace `bots` (their ids); the registry's allocations must still sum to at most 100 %."""
        _check_who(actor, reason)
        now = self._clock.now()
        stamped = [bot.model_copy(update={"actor": actor, "reason": reason, "since": now}) for bot in bots]
        detail = {"reason": reason, "bots": [b.model_dump(mode="json") for b in stamped]}
        await self._store.save_bots(stamped, AuditEntry(actor, "bots_registered", detail), now)
        await self.publish()
        return stamped

    async def stop(self, bot_id: str, *, actor: str, reason: str, until: datetime | None = None) -> Bot:
        """Stop a bot (its signals are recorded, not deliberated) until an operator resumes it or, with
        `until`, until then. A stopped bot stays stopped and the first stop's who and why stand, except that a
        stop without an end replaces one with an end (an operator's stop outlasts the breaker's next-day one)."""
        return await self._set_state(bot_id, BotState.STOPPED, actor=actor, reason=reason, until=until)

    async def resume(self, bot_id: str, *, actor: str, reason: str) -> Bot:
        return await self._set_state(bot_id, BotState.RUNNING, actor=actor, reason=reason, until=None)

    async def resume_due(self, now: datetime) -> list[Bot]:
        """Resume the stopped bots whose `stopped_until` has come (the breaker's next-day option)."""
        due = [b for b in await self.bots() if not b.running and b.stopped_until is not None and b.stopped_until <= now]
        return [await self.resume(b.bot_id, actor="scheduler", reason=f"stop ended at {b.stopped_until}") for b in due]

    async def set_allocations(self, allocations: Mapping[str, float], *, actor: str, reason: str) -> list[Bot]:
        """Apply a new allocation to the named bots, all or none, audited with the before and after."""
        _check_who(actor, reason)
        bots = {b.bot_id: b for b in await self.bots()}
        unknown = sorted(set(allocations) - set(bots))
        if unknown:
            raise UnknownBotError(f"no bot {', '.join(unknown)} (bots: {', '.join(bots) or 'none registered'})")
        now = self._clock.now()
        changed = [bots[i].model_copy(update={"allocation": float(w)}) for i, w in allocations.items()]
        detail = {
            "reason": reason,
            "before": {i: bots[i].allocation for i in allocations},
            "after": {i: float(w) for i, w in allocations.items()},
        }
        await self._store.save_bots(changed, AuditEntry(actor, "allocation_applied", detail), now)
        await self.publish()
        log.info("allocation applied by %s: %s", actor, detail["after"])
        return changed

    async def _set_state(self, bot_id: str, state: BotState, *, actor: str, reason: str, until: datetime | None) -> Bot:
        _check_who(actor, reason)
        bot = await self.get(bot_id)
        lifts_an_end = state is BotState.STOPPED and bot.stopped_until is not None and until is None
        if bot.state is state and not lifts_an_end:
            return bot
        now = self._clock.now()
        changed = bot.model_copy(
            update={"state": state, "actor": actor, "reason": reason, "since": now, "stopped_until": until}
        )
        detail = {"bot_id": bot_id, "from": str(bot.state), "to": str(state), "reason": reason}
        if until is not None:
            detail["until"] = until.isoformat()
        await self._store.save_bots([changed], AuditEntry(actor, f"bot_{state.value}", detail), now)
        await self.publish()
        log.warning("bot %s -> %s by %s: %s", bot_id, state, actor, reason)
        return changed


def _check_who(actor: str, reason: str) -> None:
    if not actor.strip() or not reason.strip():
        raise ValueError("a change to a bot needs an actor and a reason")
