"""DeepSeek (and any OpenAI-compatible endpoint) through the official `openai` SDK.

Structured output by capability: JSON mode where the model supports it; otherwise (deepseek-reasoner
rejects JSON mode and tool choice) the JSON is asked for in the prompt and extracted from the text. The
schema goes into the system message either way. deepseek-reasoner's chain of thought
(`reasoning_content`) is kept in the reply. The SDK's own retries are off: retries, failover and the
circuit breaker are the resilience layer's job. The API key is never logged or put in a record.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

from agents.llm.catalog import ProviderSpec, StructuredOutput
from agents.llm.client import LLMReply, LLMRequest
from agents.llm.json_reply import find_json_object
from agents.llm.sdk_errors import translate
from state.clock import monotonic_ms
from state.decisions import Usage


def schema_instruction(request: LLMRequest) -> str:
    schema = json.dumps(request.json_schema, sort_keys=True, separators=(",", ":"))
    return (
        f"\n\nAnswer with a single JSON object that validates against this JSON schema "
        f"({request.schema_name}), and nothing else:\n{schema}"
    )


class OpenAICompatibleClient:
    def __init__(
        self,
        spec: ProviderSpec,
        *,
        api_key: str,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._spec = spec
        self._sdk = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url or spec.base_url, max_retries=0, http_client=http_client
        )

    @property
    def provider(self) -> str:
        return self._spec.name

    async def complete(self, request: LLMRequest) -> LLMReply:
        model = self._spec.model(request.model)
        messages: list[dict[str, str]] = [{"role": m.role, "content": m.content} for m in request.messages]
        messages[0] = {**messages[0], "content": messages[0]["content"] + schema_instruction(request)}
        kwargs: dict[str, Any] = {}
        if model.structured_output is StructuredOutput.JSON_MODE:
            kwargs["response_format"] = {"type": "json_object"}
        started = monotonic_ms()
        try:
            response = await self._sdk.chat.completions.create(
                model=model.id,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=request.max_output_tokens + model.reasoning_allowance,
                timeout=request.timeout_s,
                **kwargs,
            )
        except openai.OpenAIError as exc:
            raise translate(
                exc,
                self.provider,
                timeout_types=(openai.APITimeoutError,),
                connection_types=(openai.APIConnectionError,),
                status_types=(openai.APIStatusError,),
            ) from exc
        latency = monotonic_ms() - started
        message = response.choices[0].message
        text = message.content or ""
        extra = message.model_extra or {}
        reasoning = extra.get("reasoning_content")
        usage = self._usage(response.usage)
        return LLMReply(
            raw=text,
            parsed=find_json_object(text),
            provider=self.provider,
            model=response.model or model.id,
            usage=usage.model_copy(update={"cost_usd": model.prices.cost(usage)}),
            latency_ms=latency,
            reasoning=str(reasoning) if reasoning else None,
        )

    @staticmethod
    def _usage(raw: Any) -> Usage:
        if raw is None:
            return Usage()
        extra = getattr(raw, "model_extra", None) or {}
        cached = extra.get("prompt_cache_hit_tokens")  # DeepSeek reports its cache hits here
        if cached is None:
            details = getattr(raw, "prompt_tokens_details", None)
            cached = getattr(details, "cached_tokens", 0) if details is not None else 0
        completion_details = getattr(raw, "completion_tokens_details", None)
        reasoning = getattr(completion_details, "reasoning_tokens", 0) if completion_details is not None else 0
        return Usage(
            input_tokens=int(raw.prompt_tokens or 0),
            cached_input_tokens=int(cached or 0),
            output_tokens=int(raw.completion_tokens or 0),
            reasoning_tokens=int(reasoning or 0),
        )
