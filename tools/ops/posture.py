"""The posture control: the one writer of the posture sessions trade under (AEGIS v3.1 section 3).

It holds two things in the durable store, each under its own value so that two writers never overwrite each
other: the last automatic evaluation (written by the posture watch every 30 min of the feed's clock) and the
operator's override (offensive, guerrilla or defensive, with a reason, an actor and an optional end). Both
are mirrored together to the hot store (`state.context_loader.POSTURE_KEY`), where each session reads one
value; `sync` rebuilds that copy from the durable one when the hot store lost it (a Redis restart) or when
another process (the CLI) changed the durable one.

Every change of the posture in force, and every override set, cleared or ended, writes a posture-history row
saying its cause, an audit entry (who, why) and one INFO alert. The CLI (`aegis posture`), the Python API
(`Pipeline.posture`) and the rules engine's SET_POSTURE action call these methods.

Decisions that must not be silently changed:
- An override wins over the evaluation in either direction, until its end or until cleared; the session's
  fail-safe rules (stop-loss exits in a row, failed sessions: the emergency switch) still make it defensive.
- An override whose end has passed is no longer in force at once (sessions compare the time themselves);
  `lift_expired`, called as the feed's clock moves, records its end.
- An evaluation never writes the override, and an override never writes the evaluation.
- A change that makes the posture in force less defensive loosens: it needs the admin role, one that keeps or
  tightens it the trade role (`required_role`). Callers that act for a person (the REST API, the workflow)
  pass that person's role and the control checks it; the evaluation and the rules engine pass none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from quant.posture import Posture, PostureEvaluation, VixThresholds, posture_from_vix
from state.access import Access, require
from state.alerts import AlertLevel, RaiseAlert
from state.clock import Clock
from state.context_loader import POSTURE_KEY, VIX_KEY
from state.hot import HotStoreUnavailableError
from state.posture import CurrentPosture, PostureBook, PostureEvaluated, PostureOverride, PostureSource
from state.store.base import DurableStore
from state.tiered_hot import TieredHot

EVALUATED_KEY = "ops:posture:evaluated"  # durable only: the last evaluation
OVERRIDE_KEY = "ops:posture:override"  # durable only: the override (null: none)
ALERT_KIND = "posture_change"

log = logging.getLogger(__name__)


class PostureRecordError(Exception):
    """The durable posture record does not parse: nothing is written over it."""


@dataclass(frozen=True, slots=True)
class PostureChange:
    """One change as the history keeps it."""

    at: datetime
    posture: str
    reason: str
    vix: float | None


class PostureControl:
    def __init__(
        self,
        store: DurableStore,
        hot: TieredHot,
        clock: Clock,
        raise_alert: RaiseAlert,
        vix_thresholds: VixThresholds | None = None,
    ) -> None:
        self._store = store
        self._hot = hot
        self._clock = clock
        self._raise_alert = raise_alert
        self._vix_thresholds = vix_thresholds or VixThresholds()
        # Counts the overrides set or ended through this control (`aegis.runtime.recheck`): what can end by
        # time alone. An evaluation writes the hot copy itself and ends nothing.
        self.revision = 0

    # ---- reads -----------------------------------------------------------------------------------------

    async def book(self) -> PostureBook:
        """The durable evaluation and override (the truth; the hot copy may lag by one write)."""
        values = await self._store.get_values((EVALUATED_KEY, OVERRIDE_KEY))
        evaluated = values.get(EVALUATED_KEY, (None, None))[0]
        override = values.get(OVERRIDE_KEY, (None, None))[0]
        try:
            return PostureBook(
                evaluated=PostureEvaluated.model_validate(evaluated) if evaluated is not None else None,
                override=PostureOverride.model_validate(override) if override is not None else None,
            )
        except ValidationError as exc:
            raise PostureRecordError(f"the stored posture does not parse: {exc.error_count()} errors") from None

    async def current(self) -> CurrentPosture:
        """The posture in force now, before the sessions' own fail-safe rules: the override in force, else
        the last evaluation, else (neither yet) the VIX posture of the hot VIX, as sessions take it."""
        return await self._in_force(await self.book())

    async def _in_force(self, book: PostureBook, at: datetime | None = None) -> CurrentPosture:
        current = book.current(at or self._clock.now())
        if current is not None:
            return current
        value = await self._hot.get_value(VIX_KEY)
        vix = float(value) if isinstance(value, int | float) else None
        posture = posture_from_vix(vix, self._vix_thresholds)
        said = f"VIX {vix:.2f}" if vix is not None else "VIX unknown: defensive by default"
        return CurrentPosture(posture=posture, source=PostureSource.VIX, reason=f"no evaluation yet: {said}", vix=vix)

    async def required_role(self, wanted: Posture | None) -> Access:
        """The role moving the posture in force to `wanted` (None: clearing the override, so the evaluation
        applies again) needs: admin when the result is less defensive than the posture in force, else trade."""
        book = await self.book()
        now = await self._in_force(book)
        after = wanted if wanted is not None else (await self._in_force(PostureBook(evaluated=book.evaluated))).posture
        return Access.ADMIN if after.caution < now.posture.caution else Access.TRADE

    async def history(self, limit: int = 10) -> list[PostureChange]:
        """The last `limit` posture changes (the control's and the sessions'), oldest first."""
        rows = await self._store.posture_history()
        return [PostureChange(at, posture, reason, vix) for at, posture, reason, vix in rows[-limit:]]

    # ---- the hot copy ----------------------------------------------------------------------------------

    async def publish(self) -> PostureBook:
        """Mirror the durable record to the hot store (at start, and after every write)."""
        book = await self.book()
        await self._hot.set_value(POSTURE_KEY, book.model_dump(mode="json"))
        return book

    async def sync(self, book: PostureBook | None = None) -> bool:
        """Rebuild the hot copy when it is missing (a restarted Redis) or differs from the durable record
        (another process wrote it; `book`: that record, read just now); True when it was rewritten. The hot
        store itself is read, not the durable fallback the sessions get meanwhile."""
        book = book or await self.book()
        if book == PostureBook():
            return False
        wanted = book.model_dump(mode="json")
        try:
            held = await self._hot.hot.get_value(POSTURE_KEY)
        except HotStoreUnavailableError:  # sessions read the durable copy meanwhile; try again next step
            log.warning("posture: hot store unreadable; its copy is rebuilt on a later step")
            return False
        if held == wanted:
            return False
        await self._hot.set_value(POSTURE_KEY, wanted)
        log.info("posture: hot copy rebuilt from the durable record")
        return True

    # ---- writes ----------------------------------------------------------------------------------------

    async def evaluated(self, evaluation: PostureEvaluation, vix: float | None) -> CurrentPosture:
        """Record an automatic evaluation; a change of the posture in force is recorded and alerted."""
        now = self._clock.now()
        before = await self.book()
        record = PostureEvaluated(posture=evaluation.posture, reason=evaluation.reason, vix=vix, at=now)
        await self._store.put_value(EVALUATED_KEY, record.model_dump(mode="json"), now)
        after = PostureBook(evaluated=record, override=before.override)
        await self._hot.set_value(POSTURE_KEY, after.model_dump(mode="json"))
        return await self._recorded(before, after, actor="scheduler", action="posture_evaluated",
                                    why=evaluation.reason)  # fmt: skip

    async def override(
        self, posture: Posture, *, reason: str, actor: str, until: datetime | None = None, role: Access | None = None
    ) -> CurrentPosture:
        """Set the posture by hand, in either direction, until `until` (None: until cleared). With `role` (a
        person's), a less defensive posture than the one in force needs admin (`AccessDeniedError`)."""
        if not reason.strip() or not actor.strip():
            raise ValueError("a posture override needs a reason and an actor")
        if role is not None:
            require(role, await self.required_role(posture), f"overriding the posture to {posture}")
        now = self._clock.now()
        if until is not None and until <= now:
            raise ValueError(f"the override would end at {until.isoformat()}, not after now ({now.isoformat()})")
        before = await self.book()
        record = PostureOverride(posture=posture, reason=reason, actor=actor, since=now, until=until)
        await self._store.put_value(OVERRIDE_KEY, record.model_dump(mode="json"), now)
        self.revision += 1
        after = PostureBook(evaluated=before.evaluated, override=record)
        await self._hot.set_value(POSTURE_KEY, after.model_dump(mode="json"))
        return await self._recorded(before, after, actor=actor, action="posture_override", why=reason, always=True)

    async def clear(self, *, reason: str, actor: str, role: Access | None = None) -> CurrentPosture:
        """End the override: the evaluation is in force again. Nothing to clear raises `LookupError`. With
        `role`, a clearing that leaves a less defensive posture in force needs admin (`AccessDeniedError`)."""
        if not reason.strip() or not actor.strip():
            raise ValueError("clearing a posture override needs a reason and an actor")
        before = await self.book()
        if before.override is None or not before.override.in_force(self._clock.now()):
            raise LookupError("no posture override is in force")
        if role is not None:
            require(role, await self.required_role(None), "clearing the posture override")
        return await self._end_override(before, actor=actor, why=reason)

    async def lift_expired(self) -> CurrentPosture | None:
        """End an override whose time is up (the posture watch calls it as the feed's clock moves); None
        when there was none to end."""
        before = await self.book()
        override = before.override
        if override is None or override.in_force(self._clock.now()):
            return None
        assert override.until is not None
        why = f"override ended at {override.until.isoformat()} ({override.reason}, by {override.actor})"
        return await self._end_override(before, actor="scheduler", why=why, was_at=override.since)

    async def _end_override(
        self, before: PostureBook, *, actor: str, why: str, was_at: datetime | None = None
    ) -> CurrentPosture:
        now = self._clock.now()
        await self._store.put_value(OVERRIDE_KEY, None, now)
        self.revision += 1
        after = PostureBook(evaluated=before.evaluated, override=None)
        await self._hot.set_value(POSTURE_KEY, after.model_dump(mode="json"))
        return await self._recorded(
            before, after, actor=actor, action="posture_override_ended", why=why, always=True, was_at=was_at
        )

    async def _recorded(
        self,
        before: PostureBook,
        after: PostureBook,
        *,
        actor: str,
        action: str,
        why: str,
        always: bool = False,
        was_at: datetime | None = None,
    ) -> CurrentPosture:
        """Audit the write; when the posture in force changed (or `always`: an override set or ended),
        a posture-history row with its cause and one INFO alert. `was_at`: when to read the posture it
        replaces (an override that ended: while it was in force)."""
        now = self._clock.now()
        old, new = await self._in_force(before, was_at), await self._in_force(after)
        detail: dict[str, Any] = {
            "reason": why,
            "from": _summary(old),
            "to": _summary(new),
            "override": after.override.model_dump(mode="json") if after.override is not None else None,
        }
        await self._store.audit(actor, action, detail, now)
        if not always and old.posture is new.posture:  # an evaluation that changes nothing in force
            return new
        await self._store.record_posture(str(new.posture), new.reason, new.vix, now)  # the reason says its source
        message = f"posture {old.posture} ({old.source}) -> {new.posture} ({new.source}): {why}"
        await self._raise_alert(
            AlertLevel.INFO,
            ALERT_KIND,
            message,
            dedup_key=f"posture:{action}:{new.posture}:{now.isoformat()}",
            detail={"actor": actor, "from": _summary(old), "to": _summary(new)},
        )
        log.info("posture %s -> %s by %s: %s", old.posture, new.posture, actor, why)
        return new


def _summary(current: CurrentPosture) -> dict[str, Any]:
    return {"posture": str(current.posture), "source": str(current.source), "reason": current.reason}
