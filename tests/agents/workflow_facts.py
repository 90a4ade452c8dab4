"""The facts the workflow graph shows Sena, Lubit and RUNE, built the way its nodes build them.

Sena's facts follow the shape the workflow passes (the requester, the registry's tools as `ToolSpec.describe()`,
the bots, symbols, strategies and eval sets, the date, Lubit's feedback and the round); Lubit's carry the plan
(each step marked `mutates`), the requester and the deterministic checks; RUNE's the plan, the approval, each
step's result and the checks. The operator's request itself is never a fact: it is quoted, as untrusted text,
in one `operator_request` block.
"""

from __future__ import annotations

from typing import Any

from agents.sena import Plan
from prompts.loader import ExternalText
from tools.registry.catalog import SPECS, SPECS_BY_NAME

REQUEST_ID = "req-20261204-0001"
REQUEST_SOURCE = "operator_request"
TODAY = "2026-12-04"  # a Friday
NOW = "2026-12-04T09:30:00+00:00"
BOTS = [
    {"bot_id": "value", "strategy": "value", "state": "running"},
    {"bot_id": "growth", "strategy": "growth", "state": "running"},
]


def request_block(text: str, ref: str = REQUEST_ID) -> ExternalText:
    """The operator's request as every workflow role sees it: one untrusted, quoted block."""
    return ExternalText(REQUEST_SOURCE, ref, text)


def sena_facts(role: str = "trade", *, feedback: list[str] | None = None, round_: int = 0) -> dict[str, Any]:
    return {
        "request_id": REQUEST_ID,
        "requester": {"name": "dana", "role": role},
        "tools": [spec.describe() for spec in SPECS],
        "bots": BOTS,
        "symbols": ["AAPL", "MSFT", "SPY"],
        "strategies": ["growth", "value", "momentum"],
        "eval_sets": ["gate", "adversarial"],
        "today": TODAY,
        "now": NOW,
        "feedback": feedback,
        "round": round_,
    }


def lubit_facts(plan: Plan, role: str = "trade", *, verdict: str = "approve") -> dict[str, Any]:
    steps = [{**step.model_dump(mode="json"), "mutates": SPECS_BY_NAME[step.tool].mutates} for step in plan.steps]
    needs = {step.id: str(SPECS_BY_NAME[step.tool].access) for step in plan.steps}
    return {
        "plan": {**plan.model_dump(mode="json"), "steps": steps},
        "requester": {"name": "dana", "role": role},
        "checks": {
            "verdict": verdict,
            "problems": [],
            "needs_approval": any(s["mutates"] for s in steps),
            "approver_role": "trade",
            "step_access": needs,
        },
        "round": 0,
        "max_revisions": 2,
    }


def rune_facts(plan: Plan) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {
        step.id: {
            "step": step.id, "tool": step.tool, "status": "ok", "attempts": 1,
            "summary": f"{step.tool} done", "data": {}, "cites": [f"audit:{REQUEST_ID}:{step.id}"],
            "error": None, "mutates": SPECS_BY_NAME[step.tool].mutates,
            "started_at": NOW, "ended_at": NOW,
        }
        for step in plan.steps
    }  # fmt: skip
    checks: list[dict[str, Any]] = [
        {"name": name, "passed": True, "detail": "no finding", "cites": []}
        for name in ("transparency", "authority", "market_integrity", "fairness", "autonomy")
    ]
    approval = {"approved": True, "by": "lee", "role": "trade", "reason": "as asked", "at": NOW}
    return {"request_id": REQUEST_ID, "plan": plan.model_dump(mode="json"), "approval": approval,
            "results": results, "checks": checks}  # fmt: skip
