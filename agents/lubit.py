"""Lubit (DeepSeek R1 by default): the gatekeeper of a plan: approve, revise (back to Sena) or reject.

Lubit's deterministic checks (`graphs.workflow.checks`) always run first and are shown to it as facts: the
requester's role against what each step needs, each step's arguments against the tool's schema, the
dependencies, the limits. An LLM Lubit may only be stricter than those checks (the stricter verdict wins),
and it sets the steps' priorities. A failed Lubit is a rejection (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.llm.client import LLMClient
from agents.stage import RoleCall, RoleResult, StageBudget, run_role
from prompts.loader import ExternalText, load_prompt

ROLE = "lubit"
PROMPT = load_prompt(ROLE)  # read at import: a missing or malformed prompt fails at start-up

Verdict = Literal["approve", "revise", "reject"]
_STRICTNESS: dict[str, int] = {"approve": 0, "revise": 1, "reject": 2}


class LubitVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    verdict: Verdict
    reasons: Annotated[list[Annotated[str, Field(min_length=1, max_length=500)]], Field(min_length=1, max_length=12)]
    priorities: dict[str, Annotated[int, Field(ge=1, le=99)]] = Field(
        default_factory=dict, description="Step id -> priority (1 first); steps not named keep the plan's order"
    )

    @model_validator(mode="after")
    def _reasons_for_no(self) -> LubitVerdict:
        if self.verdict != "approve" and not any(r.strip() for r in self.reasons):
            raise ValueError("a revise or reject verdict must say why")
        return self


def stricter(a: LubitVerdict, b: LubitVerdict) -> LubitVerdict:
    """The stricter of two verdicts (reject > revise > approve), carrying both's reasons; priorities of `b`
    where it sets them."""
    first, second = (a, b) if _STRICTNESS[a.verdict] >= _STRICTNESS[b.verdict] else (b, a)
    reasons = list(dict.fromkeys([*first.reasons, *second.reasons]))[:12]
    return LubitVerdict(verdict=first.verdict, reasons=reasons, priorities={**a.priorities, **b.priorities})


FAIL_CLOSED = LubitVerdict(verdict="reject", reasons=["Lubit failed: the plan is rejected"])


async def judge(
    facts: dict[str, Any], external: Sequence[ExternalText] = (), *, client: LLMClient, model: str, budget: StageBudget
) -> RoleResult[LubitVerdict]:
    """Ask Lubit for its verdict on a plan; fails closed to `FAIL_CLOSED` (reject)."""
    call = RoleCall(role=ROLE, schema=LubitVerdict, prompt=PROMPT, model=model, budget=budget)
    return await run_role(call, facts, client, external)
