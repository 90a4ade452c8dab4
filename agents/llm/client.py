"""The seam between the roles and whatever answers them: the `LLMClient` protocol.

A client receives an `LLMRequest` (the role, the rendered prompt with its id and hash, the JSON schema
the reply must satisfy, and the structured facts the prompt was rendered from) and returns an `LLMReply`
holding the raw text, the parsed JSON object, token usage, latency and, where the model gives one, its
reasoning text. Clients never decide what happens on failure: they raise a `ProviderError`, and the
stage runner fails the role closed.

Real providers (DeepSeek through the openai SDK, Claude through the anthropic SDK) implement the same
protocol; so do the deterministic `rules` baseline and the `scripted` client used by tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from prompts.loader import ExternalText, Message
from state.decisions import Usage

DEFAULT_MAX_OUTPUT_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class LLMRequest:
    role: str  # the deliberation role asking: "analyst", "validator", "commander", ...
    model: str
    messages: tuple[Message, ...]
    prompt_id: str
    prompt_hash: str
    schema_name: str
    json_schema: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)  # the structured inputs the prompt was rendered from
    external: tuple[ExternalText, ...] = ()  # the untrusted texts quoted in the prompt (news, an operator's request)
    timeout_s: float = 30.0
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS  # room for the answer (a reasoning model gets more)


@dataclass(frozen=True, slots=True)
class LLMReply:
    raw: str  # the reply exactly as received
    parsed: dict[str, Any] | None  # the JSON object found in it (not yet validated); None when there is none
    provider: str
    model: str
    usage: Usage
    latency_ms: float
    reasoning: str | None = None
    attempts: tuple[Attempt, ...] = ()


class LLMClient(Protocol):
    """Anything that can answer a role's request with structured output."""

    @property
    def provider(self) -> str: ...

    async def complete(self, request: LLMRequest) -> LLMReply: ...


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one route (endpoint + model): what happened and how long it took."""

    route: str
    outcome: str  # "ok", or the error's class name
    latency_ms: float
    status: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 3),
            "status": self.status,
            "detail": self.detail,
        }


class ProviderError(Exception):
    """Base of every failure of a client. The stage runner treats all of them as fail-closed.

    `retryable` says whether the same call may succeed if repeated (rate limits, 5xx, timeouts, broken
    connections); `retry_after` is the provider's own hint in seconds; `attempts` lists what was tried.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        attempts: tuple[Attempt, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.attempts = attempts


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the call's timeout."""

    retryable = True


class ProviderUnavailableError(ProviderError):
    """Connection refused or broken, 5xx, rate limited (429)."""

    retryable = True


class CircuitOpenError(ProviderUnavailableError):
    """The route's circuit breaker is open: the call was not made."""

    retryable = False


class InvalidReplyError(ProviderError):
    """The reply could not be parsed into a JSON object."""


class ProviderRejectedError(ProviderError):
    """The provider refused the request (400/401/403/404/422): retrying cannot help."""


class BudgetExceededError(ProviderError):
    """The per-decision or daily LLM budget is spent: the call was not made."""
