"""Running one role under its stage budget, failing closed.

`run_role` renders the role's prompt from the facts, asks the client, and validates the reply against the
role's schema. A timeout past the budget's fail threshold, any client error, or a reply that does not
validate gives `output=None` and a FAILED stage record that says why; the caller then applies the role's
fail-closed output (hold or veto). Nothing here ever raises for a provider's misbehaviour.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agents.llm.client import DEFAULT_MAX_OUTPUT_TOKENS, LLMClient, LLMReply, LLMRequest, ProviderError
from prompts.loader import ExternalText, Message, PromptTemplate, messages_hash
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
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS  # room for the reply's JSON (a plan needs more)


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


def build_request(call: RoleCall[T], facts: dict[str, Any], external: Sequence[ExternalText] = ()) -> LLMRequest:
    rendered = call.prompt.render(facts, external)
    return LLMRequest(
        role=call.role,
        model=call.model,
        messages=rendered.messages,
        prompt_id=rendered.prompt_id,
        prompt_hash=rendered.prompt_hash,
        schema_name=call.schema.__name__,
        json_schema=json_schema_of(call.schema),
        facts=facts,
        external=tuple(external),
        timeout_s=call.budget.fail_s,
        max_output_tokens=call.max_output_tokens,
    )


REPAIR_INSTRUCTION = (
    "Your reply above could not be used: {problem}\n"
    "Reply again with one JSON object that validates against the {schema} schema, and nothing else."
)


def repair_request(request: LLMRequest, raw: str, problem: str, timeout_s: float) -> LLMRequest:
    """The same request, followed by the rejected reply and the validation error, for one more try."""
    messages = (
        *request.messages,
        Message("assistant", raw or "(empty reply)"),
        Message("user", REPAIR_INSTRUCTION.format(problem=problem, schema=request.schema_name)),
    )
    return dataclasses.replace(
        request, messages=messages, prompt_hash=messages_hash(messages), timeout_s=max(timeout_s, 0.001)
    )


def _problem(schema: type[T], reply: LLMReply) -> tuple[T | None, str | None]:
    if reply.parsed is None:
        return None, f"no JSON object in the reply: {reply.raw[:120]!r}"
    try:
        return schema.model_validate(reply.parsed), None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<reply>'}: {e['msg']}" for e in exc.errors())
        return None, f"invalid {schema.__name__}: {problems}"


async def _ask(client: LLMClient, request: LLMRequest, timeout_s: float) -> LLMReply | str:
    """The reply, or why there is none (never raises for provider failures)."""
    try:
        async with asyncio.timeout(max(timeout_s, 0.0)):
            return await client.complete(request)
    except TimeoutError:
        return f"timed out after {request.timeout_s:.2f} s (fail threshold)"
    except ProviderError as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a client bug must not become a trade either: fail closed, say what it was
        return f"unexpected {type(exc).__name__}: {exc}"


async def run_role(
    call: RoleCall[T], facts: dict[str, Any], client: LLMClient, external: Sequence[ExternalText] = ()
) -> RoleResult[T]:
    """Ask `client` for the role's reply within the budget; one repair attempt on an invalid reply.

    Never raises for provider failures: the result's output is None and the record says why.
    """
    request = build_request(call, facts, external)
    budget_s = call.budget.fail_s
    started = monotonic_ms()
    first = await _ask(client, request, budget_s)
    if isinstance(first, str):
        return RoleResult(None, _record(call, request, client, StageStatus.FAILED, started, first, None))
    output, problem = _problem(call.schema, first)
    reply, repaired = first, False
    if problem is not None:
        remaining = budget_s - (monotonic_ms() - started) / 1000.0
        second = await _ask(client, repair_request(request, first.raw, problem, remaining), remaining)
        if isinstance(second, str):
            reason = f"{problem}; the repair call failed: {second}"
            return RoleResult(None, _record(call, request, client, StageStatus.FAILED, started, reason, first))
        reply = _combined(first, second)
        output, second_problem = _problem(call.schema, second)
        if second_problem is not None:
            reason = f"{problem}; the repair reply was invalid too: {second_problem}"
            return RoleResult(None, _record(call, request, client, StageStatus.FAILED, started, reason, reply, True))
        repaired = True
    elapsed_s = (monotonic_ms() - started) / 1000.0
    status = StageStatus.SLOW if elapsed_s > call.budget.warn_s else StageStatus.OK
    notes = [f"repaired after: {problem}"] if repaired else []
    if status is StageStatus.SLOW:
        notes.append(f"slow: {elapsed_s:.2f} s > warn {call.budget.warn_s:.2f} s")
    record = _record(call, request, client, status, started, "; ".join(notes) or None, reply, repaired)
    return RoleResult(output, record)


def _combined(first: LLMReply, second: LLMReply) -> LLMReply:
    """The repair reply, carrying the usage and attempts of both calls."""
    return dataclasses.replace(
        second,
        usage=first.usage + second.usage,
        latency_ms=first.latency_ms + second.latency_ms,
        attempts=first.attempts + second.attempts,
    )


def _record(
    call: RoleCall[Any],
    request: LLMRequest,
    client: LLMClient,
    status: StageStatus,
    started_ms: float,
    reason: str | None,
    reply: LLMReply | None,
    repaired: bool = False,
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
        attempts=[a.as_dict() for a in reply.attempts] if reply else [],
        repaired=repaired,
    )


def facts_json(facts: dict[str, Any]) -> str:
    """The canonical JSON of a role's facts (sorted keys), as rendered into prompts and hashed."""
    return json.dumps(facts, sort_keys=True, default=str, separators=(",", ":"))
