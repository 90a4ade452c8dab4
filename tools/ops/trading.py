"""The trading-state control: the one writer of ACTIVE / REDUCING / HALTED, the kill switch, and the
reductions the tiers order (cancel everything, close positions).

Every transition goes through `TradingControl.set`, which writes the durable state and its audit entry in
one transaction and then mirrors it to the hot store, where sessions read it at their start. The execute
step re-reads the durable state under the account lock, immediately before the broker call, so a halt
wins any race with a session in flight.

Decisions that must not be silently changed:
- `halt` writes the state first, without waiting for anything, so it works while sessions are stuck;
  then it waits (bounded) for the account lock, so no order checked before the halt can land after the
  cancels, and cancels every open order.
- A state set with `needs_reset` (loss limits, data-integrity breaches, a feed down past its limit) is
  lifted only by `resume(..., reset=True)` from an operator; automatic tiers never lift it, nor does a
  restart (the state is durable).
- Closing positions goes through the broker as market sells with their own idempotency keys; a position
  already being sold by a pending order is not sold twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from state.clock import Clock
from state.context_loader import TRADING_STATE_KEY
from state.orders import Order, OrderRequest, OrderStatus, OrderType, Side
from state.store.base import AuditEntry, DurableStore
from state.tiered_hot import TieredHot
from state.trading import ACCOUNT_SCOPE, TradingState, TradingStates, TradingStatus
from tools.broker.base import Broker, BrokerError

log = logging.getLogger(__name__)


class ResetRequiredError(Exception):
    """A state that needs an authorised reset was asked to be lifted without one."""


@dataclass(frozen=True, slots=True)
class HaltReport:
    status: TradingStatus
    cancelled: list[Order] = field(default_factory=list)
    waited_for_sessions: bool = True  # False: the account lock was not free in time (a session stuck mid-submit)


@dataclass(frozen=True, slots=True)
class LiftedStates:
    lifted: list[TradingStatus]  # the states that ended and went back to ACTIVE
    next_end: datetime | None  # when the next state that ends by itself ends (None: none does)


class TradingControl:
    def __init__(
        self, store: DurableStore, hot: TieredHot, broker: Broker, clock: Clock, *, lock_wait_s: float = 5.0
    ) -> None:
        self._store = store
        self._hot = hot
        self._broker = broker
        self._clock = clock
        self._lock_wait_s = lock_wait_s
        self.revision = 0  # counts the states written through this control (`aegis.runtime.recheck`)

    async def states(self) -> TradingStates:
        """The durable states (the truth; the hot copy may lag by one write)."""
        return TradingStates.of(await self._store.trading_states(), self._clock.now())

    async def publish(self) -> TradingStates:
        """Mirror the durable states to the hot store (at start: a hot store that lost them learns them)."""
        states = await self.states()
        await self._hot.set_value(TRADING_STATE_KEY, states.model_dump(mode="json"))
        return states

    async def set(
        self,
        state: TradingState,
        *,
        reason: str,
        actor: str,
        scope: str = ACCOUNT_SCOPE,
        needs_reset: bool = False,
        reset: bool = False,
        until: datetime | None = None,
    ) -> TradingStatus:
        """Move `scope` to `state`. Moving to a less severe state than one that needs a reset raises
        `ResetRequiredError` unless `reset` (an operator's authorised reset). A state that needs a reset is
        never replaced by one that does not, unless reset."""
        if not reason.strip() or not actor.strip():
            raise ValueError("a trading-state change needs a reason and an actor")
        states = await self.states()
        current = states.account if scope == ACCOUNT_SCOPE else states.symbols.get(scope)
        if current is not None and current.needs_reset and not reset:
            if state.severity <= current.state.severity:
                raise ResetRequiredError(
                    f"{scope} is {current.state} until an authorised reset ({current.reason}, by {current.actor})"
                )
            needs_reset = True  # a stricter state keeps the reset requirement
        status = TradingStatus(
            scope=scope,
            state=state,
            reason=reason,
            actor=actor,
            since=self._clock.now(),
            needs_reset=needs_reset,
            until=until if not needs_reset else None,  # a state that needs a reset never ends by itself
        )
        detail = {
            "scope": scope,
            "from": str(current.state) if current is not None else str(TradingState.ACTIVE),
            "to": str(state),
            "reason": reason,
            "needs_reset": needs_reset,
            "reset": reset,
        }
        await self._store.set_trading_state(status, AuditEntry(actor, "trading_state", detail))
        self.revision += 1
        await self.publish()
        log.warning("trading state of %s -> %s by %s: %s", scope, state, actor, reason)
        return status

    async def halt(
        self, *, reason: str, actor: str, scope: str = ACCOUNT_SCOPE, needs_reset: bool = False
    ) -> HaltReport:
        """The kill switch: HALTED at once, then every open order (of the symbol, for a symbol) cancelled."""
        status = await self.set(TradingState.HALTED, reason=reason, actor=actor, scope=scope, needs_reset=needs_reset)
        symbol = None if scope == ACCOUNT_SCOPE else scope
        cancel_reason = f"halted: {reason}"
        try:
            async with asyncio.timeout(self._lock_wait_s):
                async with self._store.account_lock():
                    cancelled = await self._broker.cancel_all(cancel_reason, self._clock.now(), symbol)
            return HaltReport(status, cancelled, waited_for_sessions=True)
        except TimeoutError:
            log.error("halt: the account lock stayed taken for %s s; cancelling without it", self._lock_wait_s)
            cancelled = await self._broker.cancel_all(cancel_reason, self._clock.now(), symbol)
            return HaltReport(status, cancelled, waited_for_sessions=False)

    async def reduce(
        self, *, reason: str, actor: str, scope: str = ACCOUNT_SCOPE, until: datetime | None = None
    ) -> TradingStatus:
        """REDUCING (only reductions pass); with `until`, back to ACTIVE by itself then (`lift_expired`)."""
        return await self.set(TradingState.REDUCING, reason=reason, actor=actor, scope=scope, until=until)

    async def lift_expired(self, now: datetime) -> LiftedStates:
        """Back to ACTIVE every scope whose state ended (`until` reached); the risk monitor's tick calls it."""
        states = await self.states()
        due = [s for s in (states.account, *states.symbols.values()) if s.until is not None and s.until <= now]
        lifted = []
        for status in due:
            if status.state is not TradingState.ACTIVE and not status.needs_reset:
                reason = f"ended at {status.until.isoformat()}: {status.reason}" if status.until else status.reason
                lifted.append(await self.resume(reason=reason, actor="scheduler", scope=status.scope))
        return LiftedStates(lifted, states.next_end(now))

    async def resume(
        self, *, reason: str, actor: str, scope: str = ACCOUNT_SCOPE, reset: bool = False
    ) -> TradingStatus:
        return await self.set(TradingState.ACTIVE, reason=reason, actor=actor, scope=scope, reset=reset)

    async def cancel_open_orders(self, *, reason: str, actor: str, symbol: str | None = None) -> list[Order]:
        async with self._store.account_lock():
            cancelled = await self._broker.cancel_all(reason, self._clock.now(), symbol)
        detail = {"reason": reason, "symbol": symbol, "orders": [o.order_id for o in cancelled]}
        await self._store.audit(actor, "orders_cancelled", detail, self._clock.now())
        return cancelled

    async def close_positions(self, *, reason: str, actor: str, symbols: list[str] | None = None) -> list[Order]:
        """Market sells of every held position (or of `symbols`) not already being sold, through the broker.
        Refused while HALTED (cancels only); allowed in REDUCING (they reduce)."""
        now = self._clock.now()
        placed: list[Order] = []
        async with self._store.account_lock():
            states = await self.states()
            selling = {o.request.symbol for o in await self._store.open_orders() if o.request.side is Side.SELL}
            for position in await self._store.positions():
                if symbols is not None and position.symbol not in symbols:
                    continue
                if position.symbol in selling:
                    continue
                refusal = states.refusal(position.symbol, reduces=True)
                if refusal is not None:
                    log.error("cannot close %s: %s", position.symbol, refusal)
                    continue
                request = OrderRequest(
                    event_id=f"close-{position.symbol}-{now.isoformat()}",
                    symbol=position.symbol,
                    side=Side.SELL,
                    quantity=position.quantity,
                    order_type=OrderType.MARKET,
                    created_at=now,
                    bot_id=position.bot_id,
                )
                try:
                    order = await self._broker.submit(request)
                except BrokerError as exc:
                    log.error("closing %s failed: %s", position.symbol, exc)
                    continue
                if order.status is OrderStatus.PENDING:
                    placed.append(order)
        detail = {"reason": reason, "orders": [o.order_id for o in placed]}
        await self._store.audit(actor, "positions_closing", detail, now)
        return placed


def describe(status: TradingStatus, now: datetime) -> str:
    age = (now - status.since).total_seconds()
    reset = ", needs an authorised reset" if status.needs_reset else ""
    return f"{status.scope}: {status.state.upper()} since {age:.0f} s ({status.reason}, by {status.actor}{reset})"
