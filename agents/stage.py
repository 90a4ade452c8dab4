"""Running one role under its stage budget, failing closed.

`run_role` renders the role's prompt from the facts, asks the client, and validates the reply against the
role's schema. A timeout past the budget's fail threshold, any client error, or a reply that does not
validate gives `output=None` and a FAILED stage record that says why; the caller then applies the role's
fail-closed output (hold or veto). Nothing here ever raises for a provider's misbehaviour.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agents.llm.client import LLMClient, LLMReply, LLMRequest, ProviderError
from prompts.loader import PromptTemplate
from state.clock import monotonic_ms
from state.decisions import StageRecord, StageStatus

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class StageBudget:
    """Seconds: the target to aim for, the warn threshold (recorded as slow), the fail threshold (fail closed)."""

    target_s: float
    warn_s: float
    fail_s: float

    def __post_init__(self) -> None:
        if not 0 < self.target_s <= self.warn_s <= self.fail_s:
            raise ValueError(f"stage budget must satisfy 0 < target <= warn <= fail, got {self}")


@dataclass(frozen=True, slots=True)
class RoleCall(Generic[T]):
    role: str
    schema: type[T]
    prompt: PromptTemplate
    model: str
    budget: StageBudget


@dataclass(frozen=True, slots=True)
class RoleResult(Generic[T]):
    output: T | None  # None when the stage failed closed
    record: StageRecord

    @property
    def failed(self) -> bool:
        return self.output is None


@cache
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a role's reply model (computed once per model: it is costly)."""
    return schema.model_json_schema()


def build_request(call: RoleCall[T], facts: dict[str, Any]) -> LLMRequest:
    rendered = call.prompt.render(facts)
    return LLMRequest(
        role=call.role,
        model=call.model,
        messages=rendered.messages,
        prompt_id=rendered.prompt_id,
        prompt_hash=rendered.prompt_hash,
        schema_name=call.schema.__name__,
        json_schema=json_schema_of(call.schema),
        facts=facts,
        timeout_s=call.budget.fail_s,
    )


async def run_role(call: RoleCall[T], facts: dict[str, Any], client: LLMClient) -> RoleResult[T]:
    """Ask `client` for the role's reply within the budget. Never raises for provider failures."""
    request = build_request(call, facts)
    started = monotonic_ms()

    def failed(reason: str, reply: LLMReply | None = None) -> RoleResult[T]:
        return RoleResult(None, _record(call, request, client, StageStatus.FAILED, started, reason, reply))

    try:
        reply = await asyncio.wait_for(client.complete(request), timeout=call.budget.fail_s)
    except TimeoutError:
        return failed(f"timed out after {call.budget.fail_s:.2f} s (fail threshold)")
    except ProviderError as exc:
        return failed(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a client bug must not become a trade either: fail closed, say what it was
        return failed(f"unexpected {type(exc).__name__}: {exc}")
    try:
        output = call.schema.model_validate(reply.parsed)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<reply>'}: {e['msg']}" for e in exc.errors())
        return failed(f"invalid {call.schema.__name__}: {problems}", reply)
    elapsed_s = (monotonic_ms() - started) / 1000.0
    status = StageStatus.SLOW if elapsed_s > call.budget.warn_s else StageStatus.OK
    reason = f"slow: {elapsed_s:.2f} s > warn {call.budget.warn_s:.2f} s" if status is StageStatus.SLOW else None
    return RoleResult(output, _record(call, request, client, status, started, reason, reply))


def _record(
    call: RoleCall[Any],
    request: LLMRequest,
    client: LLMClient,
    status: StageStatus,
    started_ms: float,
    reason: str | None,
    reply: LLMReply | None,
) -> StageRecord:
    return StageRecord(
        stage=call.role,
        status=status,
        latency_ms=monotonic_ms() - started_ms,
        reason=reason,
        provider=reply.provider if reply else client.provider,
        model=reply.model if reply else request.model,
        prompt_id=request.prompt_id,
        prompt_hash=request.prompt_hash,
        raw_reply=reply.raw if reply else None,
        reasoning=reply.reasoning if reply else None,
        parsed=reply.parsed if reply else None,
        usage=reply.usage if reply else None,
    )


def facts_json(facts: dict[str, Any]) -> str:
    """The canonical JSON of a role's facts (sorted keys), as rendered into prompts and hashed."""
    return json.dumps(facts, sort_keys=True, default=str, separators=(",", ":"))
