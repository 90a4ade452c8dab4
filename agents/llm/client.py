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

from prompts.loader import Message
from state.decisions import Usage


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
    timeout_s: float = 30.0
    max_output_tokens: int = 1024


@dataclass(frozen=True, slots=True)
class LLMReply:
    raw: str  # the reply exactly as received
    parsed: dict[str, Any]  # the JSON object extracted from it (not yet validated against the role schema)
    provider: str
    model: str
    usage: Usage
    latency_ms: float
    reasoning: str | None = None


class LLMClient(Protocol):
    """Anything that can answer a role's request with structured output."""

    @property
    def provider(self) -> str: ...

    async def complete(self, request: LLMRequest) -> LLMReply: ...


class ProviderError(Exception):
    """Base of every failure of a client. The stage runner treats all of them as fail-closed."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the call's timeout."""


class ProviderUnavailableError(ProviderError):
    """Connection refused, 5xx, rate limited past the retries, circuit open."""


class InvalidReplyError(ProviderError):
    """The reply could not be parsed into a JSON object."""


class ProviderRejectedError(ProviderError):
    """The provider refused the request (400/401/403): retrying cannot help."""
