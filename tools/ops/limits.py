"""The risk-limit control: the one writer of the risk limits an operator may change (DESIGN section 8).

The settings hold every limit (`quant.risk_guard.RiskLimits`, `Settings.deliberation.risk_limits`); an
operator overrides the four the tool registry names (`tools.registry.catalog.LimitName`: the daily loss,
the concentration of one symbol, the gross exposure, the price band), each in percent. Every change goes
through `LimitControl`, which appends it to the durable store with its audit entry in one transaction and
then mirrors the overrides in force to the hot store (`state.context_loader.LIMITS_KEY`), where every
session reads them at its start: a worker sees a change made by another process at its next session. The
CLI (`aegis limits`), the Python API (`Pipeline.limits`) and the workflow's `limits.set` tool call it.

Decisions that must not be silently changed:
- Every one of these limits is looser when higher (`loosens`). Tightening needs the trade role, loosening
  the admin role (`state.access`); a reset back to the setting is a tightening or a loosening like any other.
- A value `RiskLimits` refuses is refused here, before anything is written.
- Setting the value already in force (or resetting a limit nobody overrode) writes nothing: a retried
  step or a double click is harmless. The role is still checked.
- The durable changes are the truth; the hot copy is rebuilt from them (`publish`) at start and after
  every write, and (`sync`) as the market feed's time moves when it differs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, get_args

from quant.risk_guard import RiskLimits
from state.access import Access, require
from state.clock import Clock
from state.context_loader import LIMITS_KEY
from state.hot import HotStoreUnavailableError
from state.risk_limits import LimitChange, LimitOverrides
from state.store.base import AuditEntry, DurableStore
from state.tiered_hot import TieredHot
from tools.registry.catalog import LimitName

ADJUSTABLE: tuple[str, ...] = get_args(LimitName)  # the limits an operator may change, in percent

log = logging.getLogger(__name__)


class UnknownLimitError(ValueError):
    """A change named a limit that is not one an operator may change."""


@dataclass(frozen=True, slots=True)
class LimitState:
    """One adjustable limit as it stands: the value in force, the setting, and the change that left it so
    (None: never changed)."""

    name: str
    in_force: float
    setting: float
    last_change: LimitChange | None

    @property
    def overridden(self) -> bool:
        return self.last_change is not None and self.last_change.value is not None


def check_name(name: str) -> str:
    """`name` when an operator may change it, else `UnknownLimitError` listing those that may be."""
    if name not in ADJUSTABLE:
        raise UnknownLimitError(f"unknown risk limit {name!r} (limits: {', '.join(ADJUSTABLE)})")
    return name


def loosens(name: str, old: float, new: float) -> bool:
    """Whether moving limit `name` from `old` to `new` loosens it: every adjustable limit is looser when
    higher (a larger daily loss, concentration, exposure or price band is allowed)."""
    check_name(name)
    return new > old


def needed_role(name: str, old: float, new: float) -> Access:
    """The role a change from `old` to `new` needs: admin to loosen, trade to tighten (or keep)."""
    return Access.ADMIN if loosens(name, old, new) else Access.TRADE


class LimitControl:
    def __init__(self, store: DurableStore, hot: TieredHot, clock: Clock, defaults: RiskLimits) -> None:
        self._store = store
        self._hot = hot
        self._clock = clock
        self._defaults = defaults
        self.revision = 0  # counts the changes written through this control (`aegis.runtime.recheck`)

    @property
    def defaults(self) -> RiskLimits:
        """The settings' limits, before any override."""
        return self._defaults

    # ---- reads -----------------------------------------------------------------------------------------

    async def overrides(self) -> LimitOverrides:
        """The overrides in force, from the durable changes (the truth; the hot copy may lag by one write)."""
        return LimitOverrides.of(await self._store.risk_limit_changes())

    async def current(self) -> RiskLimits:
        """The settings' limits with the durable overrides applied: the limits sessions trade under."""
        return (await self.overrides()).applied(self._defaults)

    async def states(self) -> list[LimitState]:
        """Each adjustable limit: in force, the setting, and its last change."""
        changes = await self._store.risk_limit_changes()
        last = {c.name: c for c in changes}
        limits = LimitOverrides.of(changes).applied(self._defaults)
        return [
            LimitState(name, getattr(limits, name), getattr(self._defaults, name), last.get(name))
            for name in ADJUSTABLE
        ]

    async def history(self, name: str | None = None, *, last: int | None = None) -> list[LimitChange]:
        """The changes of limit `name` (None: of every limit), oldest first; with `last`, only the last ones."""
        if name is not None:
            check_name(name)
        changes = await self._store.risk_limit_changes(name)
        return changes if last is None else changes[-last:] if last > 0 else []

    async def required_role(self, name: str, value: float | None) -> Access:
        """The role changing `name` to `value` (None: a reset to the setting) needs against the limits in force
        now: what the workflow's gatekeeper and its approvals check before the change is made."""
        check_name(name)
        before = getattr(await self.current(), name)
        return needed_role(name, before, getattr(self._defaults, name) if value is None else value)

    # ---- the hot copy ----------------------------------------------------------------------------------

    async def publish(self) -> LimitOverrides:
        """Mirror the durable overrides to the hot store (at start, and after every write)."""
        overrides = await self.overrides()
        await self._hot.set_value(LIMITS_KEY, overrides.model_dump(mode="json"))
        return overrides

    async def sync(self) -> bool:
        """Rebuild the hot copy when it is missing (a restarted Redis) or differs from the durable changes
        (another process, the CLI, changed them while this one keeps an in-process hot store); True when it
        was rewritten. The market feed calls it as time moves. The hot store itself is read, not the durable
        fallback the sessions get meanwhile."""
        wanted = (await self.overrides()).model_dump(mode="json")
        try:
            held = await self._hot.hot.get_value(LIMITS_KEY)
        except HotStoreUnavailableError:  # sessions read the durable copy meanwhile; try again next step
            log.warning("risk limits: hot store unreadable; its copy is rebuilt on a later step")
            return False
        if held == wanted:
            return False
        await self._hot.set_value(LIMITS_KEY, wanted)
        log.info("risk limits: hot copy rebuilt from the durable changes")
        return True

    # ---- writes ----------------------------------------------------------------------------------------

    async def set(self, name: str, value: float, *, actor: str, reason: str, role: Access) -> LimitChange:
        """Override limit `name` with `value` (percent). Tightening needs `Access.TRADE`, loosening
        `Access.ADMIN` (`AccessDeniedError` naming the role needed); a value `RiskLimits` refuses raises
        `ValueError`. The value already in force writes nothing: the change returned is not recorded, and its
        `before` equals its `after`."""
        check_name(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of percent, got {value!r}")
        proposed: dict[str, Any] = {name: float(value)}
        try:
            dataclasses.replace(self._defaults, **proposed)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return await self._change(name, float(value), actor=actor, reason=reason, role=role)

    async def reset(self, name: str, *, actor: str, reason: str, role: Access) -> LimitChange:
        """End the override of `name`: the setting applies again (a tightening or a loosening like any other
        change). No override in force writes nothing."""
        check_name(name)
        return await self._change(name, None, actor=actor, reason=reason, role=role)

    async def _change(self, name: str, value: float | None, *, actor: str, reason: str, role: Access) -> LimitChange:
        if not actor.strip() or not reason.strip():
            raise ValueError("a risk-limit change needs an actor and a reason")
        changes = await self._store.risk_limit_changes(name)
        before = getattr(LimitOverrides.of(changes).applied(self._defaults), name)
        setting = getattr(self._defaults, name)
        after = setting if value is None else value
        verb = "resetting" if value is None else "setting"
        require(role, needed_role(name, before, after), f"{verb} {name} from {before:g} to {after:g} %")
        now = self._clock.now()
        change = LimitChange(
            name=name,
            version=len(changes) + 1,
            value=value,
            before=before,
            after=after,
            setting=setting,
            actor=actor,
            reason=reason,
            role=role,
            at=now,
        )
        overridden = bool(changes) and changes[-1].value is not None
        if (value is None and not overridden) or (value is not None and value == before):
            return change  # nothing to change: not recorded (its `before` is its `after`)
        action = "risk_limit_reset" if value is None else "risk_limit_set"
        detail = {
            "limit": name,
            "from": before,
            "to": after,
            "setting": setting,
            "loosened": loosens(name, before, after),
            "role": str(role),
            "reason": reason,
        }
        await self._store.save_risk_limit_change(change, AuditEntry(actor, action, detail))
        self.revision += 1
        await self.publish()
        log.info("risk limit %s %g -> %g by %s (%s): %s", name, before, after, actor, role, reason)
        return change
