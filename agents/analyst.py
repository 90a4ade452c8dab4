"""The analyst (DeepSeek V3 by default): reads the event, the context and the quant report and states a
thesis, a direction and a confidence, citing the evidence it used.

It never sizes or places anything; a failed analyst means hold (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.llm.client import LLMClient
from agents.stage import RoleCall, RoleResult, StageBudget, run_role
from prompts.loader import ExternalText, load_prompt

ROLE = "analyst"
PROMPT = load_prompt(ROLE)  # read at import: a missing or malformed prompt fails at start-up


class AnalystView(BaseModel):
    """The analyst's reply. `direction` "flat" means no trade idea."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    direction: Literal["long", "short", "flat"]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    thesis: Annotated[str, Field(min_length=1, max_length=2000)]
    evidence: Annotated[list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=1, max_length=12)]


FAIL_CLOSED = AnalystView(direction="flat", confidence=0.0, thesis="analyst failed: hold", evidence=["fail-closed"])


async def analyse(
    facts: dict[str, Any], external: Sequence[ExternalText] = (), *, client: LLMClient, model: str, budget: StageBudget
) -> RoleResult[AnalystView]:
    """Ask the analyst for its view of the event; fails closed to `FAIL_CLOSED` (hold)."""
    call = RoleCall(role=ROLE, schema=AnalystView, prompt=PROMPT, model=model, budget=budget)
    return await run_role(call, facts, client, external)
