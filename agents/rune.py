"""RUNE: the ethics and transparency check of a workflow's run, before its result is reported.

RUNE's checks are deterministic (`graphs.workflow.review`): transparency (every claim and action cites
records), authority (nothing beyond the requester's role or the approval), market integrity (no wash trade,
no layering or spoofing), fairness across bots (an allocation that starves a bot cites its reason) and
autonomy (no step ran without the approval it needed). An LLM (Claude by default) may add an opinion; it
can flag, never clear, what the checks found. A failed opinion is recorded and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.llm.client import LLMClient
from agents.stage import RoleCall, RoleResult, StageBudget, run_role
from prompts.loader import ExternalText, load_prompt

ROLE = "rune"
PROMPT = load_prompt(ROLE)  # read at import: a missing or malformed prompt fails at start-up

CheckName = Literal["transparency", "authority", "market_integrity", "fairness", "autonomy"]
CHECKS: tuple[CheckName, ...] = ("transparency", "authority", "market_integrity", "fairness", "autonomy")


class RuneCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: CheckName
    passed: bool
    detail: Annotated[str, Field(min_length=1, max_length=1000)]
    cites: list[str] = Field(default_factory=list)


class RuneOpinion(BaseModel):
    """The LLM's reading of the run: concerns it sees beyond the checks (it can only add concerns)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    concerns: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=12)
    summary: Annotated[str, Field(min_length=1, max_length=1000)]


class RuneReview(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    verdict: Literal["pass", "flag"]  # flag: at least one check failed or the opinion raised a concern
    checks: list[RuneCheck]
    opinion: RuneOpinion | None = None
    opinion_failed: str | None = None  # why the optional opinion is missing, when it was asked for and failed

    @property
    def failed(self) -> list[RuneCheck]:
        return [check for check in self.checks if not check.passed]


async def opine(
    facts: dict[str, Any], external: Sequence[ExternalText] = (), *, client: LLMClient, model: str, budget: StageBudget
) -> RoleResult[RuneOpinion]:
    """Ask for RUNE's opinion of a run (optional); a failure leaves the deterministic review as it is."""
    call = RoleCall(role=ROLE, schema=RuneOpinion, prompt=PROMPT, model=model, budget=budget)
    return await run_role(call, facts, client, external)
