"""Providers and models described as data: endpoints, capabilities and prices.

Clients look capabilities up here instead of branching on model names: whether a model takes JSON mode,
forced tool choice, a JSON-schema output format, returns its reasoning, or caches prompts; and what a
million tokens cost (input, cached input, output). Prices are the providers' published list prices as
recorded below, in US dollars; they change, so settings may replace any entry.

Each model also carries its vendor's stated knowledge cutoff (`ModelSpec.knowledge_cutoff`, the last day of
the stated month), which the post-cutoff eval mode (`evals.cutoff`) reads. Decisions that must not be silently
changed: a cutoff is entered only from the vendor's own documentation, cited beside it; where the vendor states
none it stays None (and the post-cutoff mode refuses that model), never an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from agents.llm.client import ProviderRejectedError
from state.decisions import Usage


class StructuredOutput(StrEnum):
    """How a model is made to answer with the role's JSON object, best first."""

    FORCED_TOOL = "forced_tool"  # a tool whose input schema is the role's schema, and tool_choice forcing it
    JSON_SCHEMA = "json_schema"  # the provider validates the reply against a JSON schema
    JSON_MODE = "json_mode"  # the reply is guaranteed JSON, the schema is described in the prompt
    PROMPT = "prompt"  # JSON is asked for in the prompt and extracted from the text


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float
    cache_write: float | None = None  # where writing the cache costs more than plain input

    def cost(self, usage: Usage) -> float:
        """US dollars for one call's usage."""
        writes = usage.cache_write_tokens
        plain = max(0, usage.input_tokens - usage.cached_input_tokens - writes)
        write_price = self.cache_write if self.cache_write is not None else self.input
        total = (
            plain * self.input
            + usage.cached_input_tokens * self.cached_input
            + writes * write_price
            + usage.output_tokens * self.output
        )
        return total / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    structured_output: StructuredOutput
    reasoning_output: bool
    prompt_caching: bool
    prices: Prices
    # Output tokens added to a request's max_tokens for a model that counts its reasoning in them, so the
    # reasoning cannot use up the room the answer (the role's JSON) needs.
    reasoning_allowance: int = 0
    # The last day the vendor says the model's knowledge reaches; None where the vendor states none.
    knowledge_cutoff: date | None = None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    sdk: str  # "openai" (OpenAI-compatible) or "anthropic"
    base_url: str
    api_key_env: str
    models: tuple[ModelSpec, ...]

    def model(self, model_id: str) -> ModelSpec:
        """The model's spec; an unknown model is refused (a typo must not reach the provider or spend)."""
        for spec in self.models:
            if spec.id == model_id:
                return spec
        known = ", ".join(m.id for m in self.models)
        raise ProviderRejectedError(f"{self.name} has no model {model_id!r} in the catalog (known: {known})")


REASONING_ROOM = 4096  # a cap, not a spend: the stage budget's deadline bounds how long a model may think

# DeepSeek: list prices from its pricing page (cache hit / cache miss / output).
# deepseek-reasoner rejects tool_choice and JSON mode: JSON is asked for in the prompt and extracted; its
# max_tokens counts the chain of thought too (DeepSeek's reasoning-model guide).
# Knowledge cutoff: DeepSeek's API documentation (api-docs.deepseek.com, "Models & Pricing") and the
# DeepSeek-V3 / R1 model cards state none (only third-party estimates exist), so both stay None.
DEEPSEEK = ProviderSpec(
    name="deepseek",
    sdk="openai",
    base_url="https://api.deepseek.com/v1",
    api_key_env="DEEPSEEK_API_KEY",
    models=(
        ModelSpec("deepseek-chat", StructuredOutput.JSON_MODE, False, True, Prices(0.27, 0.07, 1.10)),
        ModelSpec("deepseek-reasoner", StructuredOutput.PROMPT, True, True, Prices(0.55, 0.14, 2.19), REASONING_ROOM),
    ),
)

# Anthropic: Claude Opus 5.5 refuses forced tool use, so it answers through a JSON-schema output format;
# Claude Opus 5 takes a forced tool. Cached reads and 5-minute cache writes priced separately. Thinking
# tokens count in max_tokens.
# Knowledge cutoffs as Anthropic states them (platform.claude.com/docs/about-claude/models, the comparison
# table of the model pages, "Reliable knowledge cutoff"): Claude Opus 5.5 Jun 2026, Claude Opus 5 May 2026.
ANTHROPIC = ProviderSpec(
    name="anthropic",
    sdk="anthropic",
    base_url="https://api.anthropic.com",
    api_key_env="ANTHROPIC_API_KEY",
    models=(
        ModelSpec(
            "claude-opus-5-5",
            StructuredOutput.JSON_SCHEMA,
            True,
            True,
            Prices(4.0, 0.20, 20.0, 5.0),
            REASONING_ROOM,
            knowledge_cutoff=date(2026, 6, 30),
        ),
        ModelSpec(
            "claude-opus-5",
            StructuredOutput.FORCED_TOOL,
            True,
            True,
            Prices(5.0, 0.50, 25.0, 6.25),
            REASONING_ROOM,
            knowledge_cutoff=date(2026, 5, 31),
        ),
    ),
)

CATALOG: dict[str, ProviderSpec] = {spec.name: spec for spec in (DEEPSEEK, ANTHROPIC)}
