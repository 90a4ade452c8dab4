"""The rebalancing flow: normalize -> propose -> apply -> persist.

`propose` reads the bots and their day-start marks and asks `tools.ops.allocation.propose_allocation` for
the allocation at the configured risk level (moderate by default, bounds 5-40 % per bot) and its expected
Sharpe improvement; the rules decide (`state.rules`: by default `rebalance-below-5pct-skips`, a rule an
operator can change at runtime). When a rule skips it, when a rule cannot be judged (fail safe), or when
no proposal can be made, the event settles as SKIPPED with both Sharpe figures and the rule (or the reason);
the rules' outcomes are kept in the decision record. Otherwise `apply` writes the new allocation through
`BotControl.set_allocations` (all bots or none, audited) and raises an INFO alert; the next sessions size by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.wiring import Update
from quant.portfolio import RebalanceProposal
from state.alerts import AlertLevel
from state.decisions import Outcome
from state.events import Cause, Event, EventType
from state.rules import ActionKind, RuleBook, event_facts
from tools.ops.allocation import AllocationProposal, propose_allocation

ACTOR = "rebalancing"


def build_rebalance_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    async def propose(state: DeliberationState) -> Update:
        bots = await ops.bots.bots()
        # The proposal measures; the rules decide (the 5 % rule is a rule: `aegis rules set` changes it).
        measured = ops.rebalance.model_copy(update={"min_sharpe_improvement": 0.0})
        proposal = propose_allocation(bots, await ops.store.bot_days(), measured)
        findings = _findings(proposal)
        if proposal.proposal is None or not proposal.proposal.trades:
            reason = proposal.reason if proposal.proposal is None else "the current weights already match the target"
            findings |= {"applied": False, "reason": reason}
            return {"findings": findings, "settled": Settlement(Outcome.SKIPPED, f"rebalance skipped: {reason}")}
        figures = _figures(proposal.proposal)
        verdict = judge(RuleBook(rules=tuple(await ops.rules.rules())), state["parsed"], _facts(proposal.proposal))
        findings |= {"rules": verdict.outcomes, "applied": verdict.act is None}
        if verdict.act is not None:
            findings["reason"] = f"{figures}; {verdict.act}"
            return {
                "findings": findings,
                "settled": Settlement(Outcome.SKIPPED, f"rebalance skipped: {figures}; {verdict.act}"),
            }
        findings["reason"] = f"{figures}; no rule skips it"
        return {"findings": findings}

    async def apply(state: DeliberationState) -> Update:
        findings = state["findings"]
        target: dict[str, float] = findings["target"]
        reason = f"rebalance ({findings['risk_level']}) of event {state['parsed'].id}: {findings['reason']}"
        await ops.bots.set_allocations(target, actor=ACTOR, reason=reason)
        shares = ", ".join(f"{bot} {share:.1%}" for bot, share in target.items())
        message = f"allocation applied ({shares}): {findings['reason']}"
        event = state["parsed"]
        await ops.raise_alert(
            AlertLevel.INFO,
            "rebalance_applied",
            message,
            dedup_key=f"rebalance:{event.id}",
            detail=findings,
            cause=Cause.of_event(event),
        )
        return {"settled": Settlement(Outcome.APPLIED, message)}

    return build_operation_graph(
        "rebalance", EventType.REBALANCING_DUE, [("propose", propose), ("apply", apply)], services, checkpointer
    )


@dataclass(frozen=True, slots=True)
class _Verdict:
    act: str | None  # why the rules skip it (a rule that skips, or one that cannot be judged); None: go on
    outcomes: list[dict[str, Any]]


def judge(book: RuleBook, event: Event, facts: dict[str, Any]) -> _Verdict:
    """The rules on this rebalance: skipped when a matched rule says skip, or when a rule cannot be judged
    (changing nothing is the safe side)."""
    outcomes = book.evaluate(event.type, event_facts(event, facts))
    rules = {rule.rule_id: rule for rule in book.rules}
    why = None
    for outcome in outcomes:
        if outcome.status == "failed":
            why = f"{outcome.reason}: skipped to fail safe"
            break
        if outcome.status == "matched" and any(a.kind is ActionKind.SKIP for a in outcome.actions):
            why = f"rule {outcome.rule_id} v{outcome.version}: {rules[outcome.rule_id].description}"
            break
    return _Verdict(why, [o.model_dump(mode="json") for o in outcomes])


def _facts(proposal: RebalanceProposal) -> dict[str, Any]:
    return {
        "sharpe_improvement": proposal.sharpe_improvement,
        "sharpe_before": proposal.before.sharpe,
        "sharpe_after": proposal.after.sharpe,
        "turnover": proposal.turnover,
    }


def _figures(proposal: RebalanceProposal) -> str:
    change = (
        "change undefined" if not math.isfinite(proposal.sharpe_improvement) else f"{proposal.sharpe_improvement:+.1%}"
    )
    return f"expected Sharpe ratio {proposal.before.sharpe:.3f} -> {proposal.after.sharpe:.3f} ({change})"


def _findings(proposal: AllocationProposal) -> dict[str, Any]:
    found: dict[str, Any] = {
        "risk_level": str(proposal.risk_level),
        "history_days": proposal.history_days,
        "current": dict(zip(proposal.bot_ids, proposal.current, strict=True)),
        "stopped": list(proposal.stopped),
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
