"""The workflow's nodes: Sena plans, Lubit judges, a person approves, GitCode runs, RUNE reviews.

Each node reads the state, calls one thing and returns a partial update; the end nodes (normalize, persist) are
the deliberation's own, so a request is recorded, deduplicated and decided exactly as any event is.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel

from agents import lubit, rune, sena
from agents.rune import RuneReview
from agents.stage import RoleResult
from graphs.deliberation.asking import RoleAsk, ask_role
from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import DeliberationNodes, raw_event_id
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import OpsServices
from graphs.workflow.checks import check_plan
from graphs.workflow.gitcode import Execution, run_plan
from graphs.workflow.review import review_run
from graphs.workflow.services import WorkflowServices
from graphs.workflow.state import ApprovalGiven, StepResult, WorkflowState
from prompts.loader import ExternalText
from state.access import Access, AccessDeniedError
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id
from state.decisions import Outcome
from state.events import EventType, OperatorRequestEvent
from state.orders import Order
from tools.registry.spec import Caller

Update = dict[str, Any]
REQUEST_SOURCE = "operator_request"  # the quoted block the request text reaches a prompt in


class WorkflowNodes:
    def __init__(self, services: Services, ops: OpsServices, workflow: WorkflowServices) -> None:
        self.s, self.ops, self.w = services, ops, workflow
        self.common = DeliberationNodes(services)

    # ---- normalize: the deliberation's, then the request read out of the event ------------------

    async def normalize(self, state: DeliberationState) -> Update:
        update = await self.common.normalize(state)
        parsed = update.get("parsed")
        if parsed is None or "settled" in update:
            return update
        if not isinstance(parsed, OperatorRequestEvent):
            reason = f"the workflow handles {EventType.OPERATOR_REQUEST} events; this is {parsed.type}: nothing done"
            return {**update, "settled": Settlement(Outcome.SCREENED_OUT, reason)}
        payload = parsed.payload
        # A request reads no session context: in a replay's wave, the others may write once it is here.
        self.s.ordering.context_loaded(raw_event_id(state["event"]))
        return {**update, "request": payload.request, "requester": payload.operator, "role": Access(payload.role),
                "rounds": 0}  # fmt: skip

    # ---- Sena -> Lubit (-> Sena, at most `max_revisions` times) --------------------------------

    async def sena(self, state: WorkflowState) -> Update:
        known = await self.w.vocabulary()
        bots = [{"bot_id": b.bot_id, "strategy": b.strategy, "state": str(b.state)} for b in await self.ops.bots.bots()]
        now = self.s.clock.now()
        facts = {
            "request_id": state["parsed"].id,
            "requester": {"name": state["requester"], "role": str(state["role"])},
            "tools": self.w.registry.catalog(),
            "bots": bots,
            **known,
            "today": now.date().isoformat(),
            "now": now.isoformat(),
            "feedback": state.get("feedback"),
            "round": state.get("rounds", 0),
        }
        result = await self._ask("sena", sena.plan, facts, state)
        return {"plan": result.output or sena.FAIL_CLOSED, "stages": [result.record], **_failed(result)}

    async def lubit(self, state: WorkflowState) -> Update:
        plan, role, rounds = state["plan"], Access(state["role"]), state.get("rounds", 0)
        checks = await check_plan(plan, self.w.registry, role)
        steps = [
            {**step.model_dump(mode="json"), "mutates": step.tool in self.w.registry
             and self.w.registry.get(step.tool).spec.mutates}
            for step in plan.steps
        ]  # fmt: skip
        facts = {
            "plan": {**plan.model_dump(mode="json"), "steps": steps},
            "requester": {"name": state["requester"], "role": str(role)},
            "checks": checks.model_dump(mode="json"),
            "round": rounds,
            "max_revisions": self.w.config.max_revisions,
        }
        result = await self._ask("lubit", lubit.judge, facts, state)
        ruled = lubit.LubitVerdict(
            verdict=checks.verdict,
            reasons=[_shortened(p.message) for p in checks.problems][:12] or ["the deterministic checks pass"],
        )
        verdict = lubit.stricter(ruled, result.output or lubit.FAIL_CLOSED)
        update: Update = {"checks": checks, "lubit": verdict, "stages": [result.record], **_failed(result)}
        if verdict.verdict == "revise" and rounds < self.w.config.max_revisions:
            return {**update, "rounds": rounds + 1, "feedback": verdict.reasons}
        if verdict.verdict != "approve":
            why = "; ".join(verdict.reasons)
            if verdict.verdict == "revise":
                why = f"still not right after {rounds} revisions: {why}"
            return {**update, "settled": Settlement(Outcome.BLOCKED, f"Lubit rejects the plan: {why}")}
        return update

    # ---- a person approves what changes anything --------------------------------------------

    async def approval(self, state: WorkflowState) -> Update:
        checks = state["checks"]
        if not checks.needs_approval:
            return {}
        event, plan, now = state["parsed"], state["plan"], self.s.clock.now()
        changes = [s.tool for s in plan.steps if self.w.registry.get(s.tool).spec.needs_approval]
        record = Approval(
            approval_id=approval_id(ApprovalKind.WORKFLOW, event.id),
            kind=ApprovalKind.WORKFLOW,
            subject_id=event.id,
            requested_by=state["requester"],
            summary=f"{state['requester']} ({state['role']}): {plan.summary} [changes: {', '.join(changes)}]"[:2000],
            needs=checks.approver_role,
            detail={
                "request": state["request"],
                "plan": plan.model_dump(mode="json"),
                "lubit": state["lubit"].model_dump(mode="json"),
                "requester_role": str(state["role"]),
            },
            created_at=now,
            expires_at=now + timedelta(seconds=self.w.config.approval_timeout_s),
        )
        opened = await self.w.approvals.open(record)  # idempotent: a resumed node finds the one it opened
        settled = Settlement(Outcome.AWAITING_APPROVAL, _awaiting(opened))
        waiting: WorkflowState = {**state, "findings": workflow_findings(state), "settled": settled}
        asked = {"approval": opened.model_dump(mode="json"),
                 "decision": self.common.record_of(waiting).model_dump(mode="json")}  # fmt: skip
        answer = interrupt(asked)
        while True:  # an answer from a role that may not decide is refused, and the plan waits again
            try:
                given = await self._decision(opened.approval_id, answer)
                break
            except (AccessDeniedError, ValueError) as refused:  # pydantic's ValidationError is a ValueError
                answer = interrupt({**asked, "refused": f"{type(refused).__name__}: {refused}"})
        if not given.approved:
            why = f"not approved: {given.by} ({given.role}): {given.reason}"
            return {"approval": given, "settled": Settlement(Outcome.BLOCKED, why)}
        return {"approval": given}

    async def _decision(self, approval_id: str, answer: Any) -> ApprovalGiven:
        """The approval's decision, as recorded: a person decided through the approvals desk (the CLI, the API),
        which then resumed this thread; or the answer came straight to the interrupt (Studio), and is recorded
        here, the approver's role checked like any other (`AccessDeniedError` stops the run: nothing runs)."""
        held = await self.w.approvals.get(approval_id)
        if held.pending:
            if not isinstance(answer, dict):
                raise ValueError(
                    'resume the approval with {"approved": bool, "by": name, "role": role, "reason": text}'
                )
            given = ApprovalGiven.model_validate({**answer, "at": self.s.clock.now()})
            held = await self.w.approvals.decide(approval_id, approved=given.approved, by=given.by, role=given.role,
                                                 reason=given.reason)  # fmt: skip
        return ApprovalGiven(
            approved=held.status is ApprovalStatus.APPROVED,
            by=held.decided_by or "nobody (expired)",
            role=held.decided_role or held.needs,
            reason=held.reason or str(held.status),
            at=held.decided_at or self.s.clock.now(),
        )

    # ---- GitCode -> RUNE -> persist ----------------------------------------------------------

    async def gitcode(self, state: WorkflowState) -> Update:
        await self.s.ordering.wait_turn(raw_event_id(state["event"]))  # its changes in the wave's order
        execution = Execution(self.w.registry, self.s.clock, self.w.config.step_attempts, self.w.config.retry_backoff_s)
        given = state.get("approval")
        approved = given is not None and given.approved
        caller = Caller(state["requester"], Access(state["role"]), state["parsed"].id, given.by if given else None)
        results = await run_plan(
            state["plan"], execution, caller, approved=approved, priorities=state["lubit"].priorities
        )
        return {"results": results}

    async def rune(self, state: WorkflowState) -> Update:
        results: dict[str, StepResult] = state.get("results", {})
        orders = [Order.model_validate(o) for r in results.values() for o in r.data.get("orders", [])]
        findings = await self.w.integrity(orders)
        opinion, failed, stages = None, None, []
        if self.w.config.rune_opinion:
            facts = {"request_id": state["parsed"].id, "plan": state["plan"].model_dump(mode="json"),
                     "approval": state["approval"].model_dump(mode="json") if "approval" in state else None,
                     "results": {k: v.model_dump(mode="json") for k, v in results.items()},
                     "checks": review_run(results, state["checks"], Access(state["role"]), state.get("approval"),
                                          findings).model_dump(mode="json")["checks"]}  # fmt: skip
            asked = await self._ask("rune", rune.opine, facts, state)
            opinion, stages = asked.output, [asked.record]
            failed = asked.record.reason if asked.failed else None
        review = review_run(
            results, state["checks"], Access(state["role"]), state.get("approval"), findings, opinion, failed
        )
        return {"review": review, "stages": stages, "settled": _settlement(results, review)}

    async def persist(self, state: WorkflowState, runtime: Runtime[RunKnobs]) -> Update:
        if "prior" not in state:
            state = {**state, "findings": workflow_findings(state)}
        return await self.common.persist(state, runtime)

    # ---- asking a role ------------------------------------------------------------------------

    async def _ask(self, name: str, ask: RoleAsk, facts: dict[str, Any], state: WorkflowState) -> RoleResult[Any]:
        """Ask one role (the request quoted as untrusted text), unless the LLM budget is spent."""
        event_id = state["parsed"].id
        quoted = (ExternalText(REQUEST_SOURCE, event_id, state["request"]),)
        return await ask_role(self.s, name, self.w.config.roles[name], event_id, await self.s.ledger.day_cost(),
                              ask, facts, quoted)  # fmt: skip


def _shortened(text: str, most: int = 500) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def _failed(result: RoleResult[Any]) -> Update:
    return {"failed_stages": [result.record.stage]} if result.failed else {}


def _awaiting(approval: Approval) -> str:
    until = approval.expires_at.isoformat() if approval.expires_at else "no expiry"
    return f"awaiting approval {approval.approval_id} by a {approval.needs} role (expires {until})"


def _settlement(results: dict[str, StepResult], review: RuneReview) -> Settlement:
    failed = [r for r in results.values() if r.status != "ok"]
    changed = [r for r in results.values() if r.status == "ok" and r.mutates]
    lines = "; ".join(f"{r.step} {r.tool}: {r.summary if r.status == 'ok' else r.error}" for r in results.values())
    flagged = (
        "" if review.verdict == "pass" else f" RUNE flags: {', '.join(c.name for c in review.failed) or 'concerns'}."
    )
    if failed:
        return Settlement(
            Outcome.EXECUTION_FAILED, f"{len(failed)} of {len(results)} steps did not succeed: {lines}.{flagged}"
        )
    outcome = Outcome.APPLIED if changed else Outcome.ANSWERED
    return Settlement(outcome, f"{lines}.{flagged}")


def workflow_findings(state: WorkflowState) -> dict[str, Any]:
    """The workflow's record, kept as the decision's `operation`: request, plan, verdict, approval, results, review."""

    def dump(value: BaseModel | None) -> dict[str, Any] | None:
        return value.model_dump(mode="json") if value is not None else None

    return {
        "flow": "workflow",
        "request": state.get("request"),
        "requester": state.get("requester"),
        "role": str(state["role"]) if "role" in state else None,
        "plan": dump(state.get("plan")),
        "revisions": state.get("rounds", 0),
        "checks": dump(state.get("checks")),
        "lubit": dump(state.get("lubit")),
        "approval": dump(state.get("approval")),
        "results": {k: v.model_dump(mode="json") for k, v in state.get("results", {}).items()},
        "review": dump(state.get("review")),
    }
