"""Sena (DeepSeek V3 by default): turns an operator's request into a `Plan`.

Sena understands the request, picks the registry's tools and decomposes the work into steps, each a tool
with its arguments, the steps it depends on and why it is there, plus the evidence the plan rests on. The
request is untrusted text: it reaches the prompt only as a quoted block, and a plan is only a proposal that
Lubit checks against the requester's role and the registry (a plan can never hold a tool the role lacks).
A failed Sena is an empty plan (fail closed: nothing runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.llm.client import LLMClient
from agents.stage import RoleCall, RoleResult, StageBudget, run_role
from prompts.loader import ExternalText, load_prompt

ROLE = "sena"
PROMPT = load_prompt(ROLE)  # read at import: a missing or malformed prompt fails at start-up

# A plan at its schema's limits (12 steps, 12 evidence lines of 300 characters) is about 2,000 tokens of JSON.
PLAN_OUTPUT_TOKENS = 4096

StepId = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[a-z0-9_\-]+$")]


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: StepId
    tool: Annotated[str, Field(min_length=1, max_length=64)]
    args: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[StepId] = Field(default_factory=list, max_length=12)
    why: Annotated[str, Field(min_length=1, max_length=500)]


class Plan(BaseModel):
    """Steps in any order (their dependencies order them); none when the request cannot be served."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    summary: Annotated[str, Field(min_length=1, max_length=1000)]
    steps: list[PlanStep] = Field(default_factory=list, max_length=12)
    evidence: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(default_factory=list, max_length=12)
    unsupported: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="Why the request cannot be served with the registry's tools (then no steps)"
    )

    @model_validator(mode="after")
    def _well_formed(self) -> Plan:
        ids = [step.id for step in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"step ids repeat: {ids}")
        for step in self.steps:
            unknown = set(step.depends_on) - set(ids)
            if unknown:
                raise ValueError(f"step {step.id} depends on unknown steps {sorted(unknown)}")
        if not self.steps and not self.unsupported:
            raise ValueError("a plan without steps must say why (unsupported)")
        return self

    def tools(self) -> list[str]:
        return [step.tool for step in self.steps]


FAIL_CLOSED = Plan(summary="Sena failed: no plan", unsupported="the planner failed: nothing will run")


async def plan(
    facts: dict[str, Any], external: Sequence[ExternalText] = (), *, client: LLMClient, model: str, budget: StageBudget
) -> RoleResult[Plan]:
    """Ask Sena for a plan of the request; fails closed to `FAIL_CLOSED` (nothing runs)."""
    call = RoleCall(
        role=ROLE, schema=Plan, prompt=PROMPT, model=model, budget=budget, max_output_tokens=PLAN_OUTPUT_TOKENS
    )
    return await run_role(call, facts, client, external)
