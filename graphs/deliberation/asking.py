"""Asking one role from a node: within the LLM budget, through the configured provider, charged to the event.

Shared by the deliberation's roles and the workflow's (Sena, Lubit, RUNE). A spent budget or a provider that is
not configured fails the role closed without a call, recorded as a FAILED stage that says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agents.llm.registry import UnknownProviderError
from agents.stage import RoleResult
from graphs.deliberation.config import RoleConfig
from graphs.deliberation.services import Services
from prompts.loader import ExternalText
from state.decisions import StageRecord, StageStatus

RoleAsk = Callable[..., Awaitable[RoleResult[Any]]]


async def ask_role(
    services: Services,
    name: str,
    role: RoleConfig,
    event_id: str,
    day_cost_at_start: float,
    ask: RoleAsk,
    facts: dict[str, Any],
    external: Sequence[ExternalText],
) -> RoleResult[Any]:
    refused = await services.ledger.check(event_id, day_cost_at_start)
    client = None
    if refused is None:
        try:
            client = services.providers.get(role.provider)
        except UnknownProviderError as exc:
            refused = str(exc.args[0])
    if client is None:
        record = StageRecord(stage=name, status=StageStatus.FAILED, latency_ms=0.0, reason=refused,
                             provider=role.provider, model=role.model)  # fmt: skip
        return RoleResult(None, record)
    result = await ask(facts, external, client=client, model=role.model, budget=role.budget)
    if result.record.usage is not None:
        await services.ledger.charge(event_id, result.record.usage)
    return result
