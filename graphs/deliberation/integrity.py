"""RUNE in the deliberation: the guarded order checked against the account's recent orders just before `execute`.

This module owns the `rune` step between `risk_guard` and `execute`: it reads the recent orders (placed or
changed within the longest window of the checks, and every order still open), asks
`quant.market_integrity.check_order` whether the guarded order would complete a wash trade, a layering stack or
a spoofing pattern, and records what it found as a `StageRecord` of stage "rune" (provider "rules", model the
checks' version), whether it passes or blocks, so every decision that reached it shows RUNE ran.

Decisions that must not be silently changed:
- A finding blocks: the session settles BLOCKED, reason "RUNE: <pattern>: <reason>" (each finding, joined by "; ").
- An order that only reduces exposure is never blocked (`only_reduces`): a sell of a held long (the guard sells
  only what is held), or any order while the symbol's trading state is not ACTIVE (REDUCING, which safe mode
  sets, lets through only reductions; HALTED nothing, and `execute` refuses what may not pass).
- The check reads the book after the session's turn (`SessionOrdering.wait_turn`), as the risk guard did: in a
  replayed wave it sees exactly the orders of the sessions before it.
- It reads the store's trading states and positions as they are now, not the session's context loaded earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from graphs.deliberation.config import IntegrityConfig
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.order_views import candidate_view, order_views
from quant.market_integrity import CHECK_VERSION, Finding, check_order
from quant.risk_guard import GuardedOrder
from state.clock import monotonic_ms
from state.decisions import Outcome, StageRecord, StageStatus
from state.orders import Position
from state.trading import TradingState, TradingStates

STAGE = "rune"
PROVIDER = "rules"


def only_reduces(order: GuardedOrder, positions: Sequence[Position], states: TradingStates) -> bool:
    """Whether `order` only reduces exposure: a sell of a long the account holds, or any order of a symbol whose
    trading state is not ACTIVE (there only reductions, or nothing, may pass: the execute step decides)."""
    if order.side == "sell" and any(p.symbol == order.symbol and p.quantity > 0 for p in positions):
        return True
    return states.effective(order.symbol).state is not TradingState.ACTIVE


def blocked_because(findings: Sequence[Finding]) -> str:
    return "; ".join(f"RUNE: {f.pattern}: {f.reason}" for f in findings)


async def check_guarded_order(state: DeliberationState, services: Services, config: IntegrityConfig) -> dict[str, Any]:
    """The `rune` step's update: its stage record, and the settlement when the order must not go."""
    started = monotonic_ms()
    guarded, event, context = state["guard"].order, state["parsed"], state["context"]
    assert guarded is not None  # routed here only with an order the guard passed
    limits = config.limits
    now = services.clock.now()
    account = await services.store.account_book()
    recent = await services.store.orders_since(now - timedelta(seconds=max(limits.wash_window_s, limits.lookback_s)))
    market = context.market
    reference = market.last.close if market is not None else guarded.reference_price
    reduces = only_reduces(guarded, account.positions, TradingStates.of(list(account.trading), now))
    candidate = candidate_view(guarded, event.id, event.bot, now)
    # the later read wins for an order in both; the event's own order (an earlier attempt's) is not a counterpart
    views = order_views(o for o in (*account.open_orders, *recent) if o.event_id != event.id)
    findings = check_order(candidate, views, reference, limits, reduces)
    reason = blocked_because(findings) if findings else None
    record = StageRecord(
        stage=STAGE,
        status=StageStatus.OK,
        latency_ms=monotonic_ms() - started,
        reason=reason,
        provider=PROVIDER,
        model=CHECK_VERSION,
        parsed={
            "findings": [f.as_dict() for f in findings],
            "reduces": reduces,
            "orders_checked": len(views),
            "reference_price": reference,
        },
    )
    update: dict[str, Any] = {"stages": [record]}
    if reason is not None:
        update["settled"] = Settlement(Outcome.BLOCKED, reason)
    return update
