"""The commander (Claude Opus by default): the final trading decision of a session.

"The LLM proposes, the guard disposes": whatever the commander returns is only a proposal; the
deterministic risk guard clips or rejects it before anything reaches a broker. A failed commander is a
hold (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.llm.client import LLMClient
from agents.stage import RoleCall, RoleResult, StageBudget, run_role
from prompts.loader import ExternalText, load_prompt

ROLE = "commander"
PROMPT = load_prompt(ROLE)  # read at import: a missing or malformed prompt fails at start-up


class CommanderOrder(BaseModel):
    """Percentages are percent (2.0 = 2 %): size of capital, stop and target as distances from entry."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    action: Literal["buy", "sell", "hold"]
    size_pct: Annotated[float, Field(ge=0.0, le=100.0)]
    order_type: Literal["market", "limit"]
    limit_price: Annotated[float, Field(gt=0.0)] | None = None
    stop_loss_pct: Annotated[float, Field(gt=0.0, le=50.0)] | None = None
    take_profit_pct: Annotated[float, Field(gt=0.0, le=100.0)] | None = None
    rationale: Annotated[str, Field(min_length=1, max_length=2000)]


FAIL_CLOSED = CommanderOrder(action="hold", size_pct=0.0, order_type="limit", rationale="commander failed: hold")


async def command(
    facts: dict[str, Any], external: Sequence[ExternalText] = (), *, client: LLMClient, model: str, budget: StageBudget
) -> RoleResult[CommanderOrder]:
    """Ask the commander for the order; fails closed to `FAIL_CLOSED` (hold)."""
    call = RoleCall(role=ROLE, schema=CommanderOrder, prompt=PROMPT, model=model, budget=budget)
    return await run_role(call, facts, client, external)
