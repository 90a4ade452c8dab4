"""The rebalancing flow: normalize -> propose -> apply -> persist.

`propose` reads the bots and their day-start marks and asks `tools.ops.allocation.propose_allocation` for
the allocation at the configured risk level (moderate by default, bounds 5-40 % per bot). Below the 5 %
Sharpe improvement, or when no proposal can be made, the event settles as SKIPPED with both Sharpe
figures (or the reason). Otherwise `apply` writes the new allocation through `BotControl.set_allocations`
(all bots or none, audited) and raises an INFO alert; the next sessions size by it.
"""

from __future__ import annotations

import math
from typing import Any

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.wiring import Update
from state.alerts import AlertLevel
from state.decisions import Outcome
from state.events import EventType
from tools.ops.allocation import AllocationProposal, propose_allocation

ACTOR = "rebalancing"


def build_rebalance_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    async def propose(state: DeliberationState) -> Update:
        bots = await ops.bots.bots()
        proposal = propose_allocation(bots, await ops.store.bot_days(), ops.rebalance)
        findings = _findings(proposal)
        if not proposal.apply:
            return {
                "findings": findings,
                "settled": Settlement(Outcome.SKIPPED, f"rebalance skipped: {proposal.reason}"),
            }
        return {"findings": findings}

    async def apply(state: DeliberationState) -> Update:
        findings = state["findings"]
        target: dict[str, float] = findings["target"]
        reason = f"rebalance ({findings['risk_level']}) of event {state['parsed'].id}: {findings['reason']}"
        await ops.bots.set_allocations(target, actor=ACTOR, reason=reason)
        shares = ", ".join(f"{bot} {share:.1%}" for bot, share in target.items())
        message = f"allocation applied ({shares}): {findings['reason']}"
        await ops.raise_alert(
            AlertLevel.INFO, "rebalance_applied", message, dedup_key=f"rebalance:{state['parsed'].id}", detail=findings
        )
        return {"settled": Settlement(Outcome.APPLIED, message)}

    return build_operation_graph(
        "rebalance", EventType.REBALANCING_DUE, [("propose", propose), ("apply", apply)], services, checkpointer
    )


def _findings(proposal: AllocationProposal) -> dict[str, Any]:
    found: dict[str, Any] = {
        "risk_level": str(proposal.risk_level),
        "history_days": proposal.history_days,
        "current": dict(zip(proposal.bot_ids, proposal.current, strict=True)),
        "reason": proposal.reason,
        "applied": proposal.apply,
    }
    if proposal.proposal is not None:
        found |= {
            "target": proposal.target,
            "sharpe_before": _number(proposal.proposal.before.sharpe),
            "sharpe_after": _number(proposal.proposal.after.sharpe),
            "sharpe_improvement": _number(proposal.proposal.sharpe_improvement),
            "turnover": proposal.proposal.turnover,
        }
    return found


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity: those are recorded as null."""
    return value if math.isfinite(value) else None
