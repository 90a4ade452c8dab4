"""The validator (DeepSeek R1 by default): an independent check of logic and risk with a veto.

A veto stops the session at once, with no escalation. In parallel mode the validator judges the event and
the report without seeing the analyst's thesis; in sequential mode it also checks that thesis.
A failed validator is a veto (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.llm.client import LLMClient
from agents.stage import RoleCall, RoleResult, StageBudget, run_role
from prompts.loader import ExternalText, load_prompt

ROLE = "validator"
PROMPT = load_prompt(ROLE)  # read at import: a missing or malformed prompt fails at start-up


class ValidatorVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    verdict: Literal["approve", "veto"]
    reasons: Annotated[list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=1, max_length=12)]
    violated_checks: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _veto_names_a_check(self) -> ValidatorVerdict:
        if self.verdict == "veto" and not self.violated_checks:
            raise ValueError("a veto must name at least one violated check")
        return self

    @property
    def vetoed(self) -> bool:
        return self.verdict == "veto"


FAIL_CLOSED = ValidatorVerdict(verdict="veto", reasons=["validator failed: veto"], violated_checks=["validator_failed"])


async def validate(
    facts: dict[str, Any], external: Sequence[ExternalText] = (), *, client: LLMClient, model: str, budget: StageBudget
) -> RoleResult[ValidatorVerdict]:
    """Ask the validator for approve/veto; fails closed to `FAIL_CLOSED` (veto)."""
    call = RoleCall(role=ROLE, schema=ValidatorVerdict, prompt=PROMPT, model=model, budget=budget)
    return await run_role(call, facts, client, external)
