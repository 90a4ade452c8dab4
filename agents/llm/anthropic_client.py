"""Claude through the official `anthropic` SDK (the commander's default provider).

Structured output by capability: a forced tool whose input schema is the role's schema (models that accept
forced tool choice), or a JSON-schema output format (models that refuse forced tools, such as Claude Opus 5.5)
given the schema in the subset it accepts (`agents.llm.anthropic_schema`), or JSON asked for in the prompt,
which is also what a schema with a dict field gets where the output format cannot hold it. The static system
prompt is sent first and marked for prompt caching (`cache_control`), so repeated sessions read it from the
cache; cached and cache-write tokens are measured from the usage the API returns. Thinking blocks are kept as
the reply's reasoning. The SDK's own retries are off; the API key is never logged or put in a record.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2

from agents.llm.anthropic_schema import effective_structured_output, output_format_schema
from agents.llm.catalog import ProviderSpec, StructuredOutput
from agents.llm.client import LLMReply, LLMRequest
from agents.llm.json_reply import find_json_object
from agents.llm.openai_compat import schema_instruction
from agents.llm.sdk_errors import translate
from state.clock import monotonic_ms
from state.decisions import Usage


class AnthropicClient:
    def __init__(
        self,
        spec: ProviderSpec,
        *,
        api_key: str,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._spec = spec
        self._sdk = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url or spec.base_url, max_retries=0, http_client=http_client
        )

    @property
    def provider(self) -> str:
        return self._spec.name

    async def complete(self, request: LLMRequest) -> LLMReply:
        model = self._spec.model(request.model)
        system_text = "\n\n".join(m.content for m in request.messages if m.role == "system")
        strategy = effective_structured_output(model.structured_output, request.json_schema)
        if strategy in (StructuredOutput.PROMPT, StructuredOutput.JSON_MODE):
            system_text += schema_instruction(request)
        system = [{"type": "text", "text": system_text, "cache_control": {"type": "ephemeral"}}]
        messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        kwargs: dict[str, Any] = {}
        if strategy is StructuredOutput.FORCED_TOOL:
            kwargs["tools"] = [
                {"name": request.schema_name, "description": f"Record the {request.role}'s reply.",
                 "input_schema": request.json_schema}
            ]  # fmt: skip
            kwargs["tool_choice"] = {"type": "tool", "name": request.schema_name}
        elif strategy is StructuredOutput.JSON_SCHEMA:
            schema = output_format_schema(request.json_schema)
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        started = monotonic_ms()
        try:
            response = await self._sdk.messages.create(
                model=model.id,
                system=system,  # type: ignore[arg-type]
                messages=messages,  # type: ignore[arg-type]
                max_tokens=request.max_output_tokens + model.reasoning_allowance,
                timeout=request.timeout_s,
                **kwargs,
            )
        except anthropic.AnthropicError as exc:
            raise translate(
                exc,
                self.provider,
                timeout_types=(anthropic.APITimeoutError,),
                connection_types=(anthropic.APIConnectionError,),
                status_types=(anthropic.APIStatusError,),
            ) from exc
        latency = monotonic_ms() - started
        raw, parsed = self._answer(response.content, strategy, request.schema_name)
        thinking = [getattr(b, "thinking", "") for b in response.content if b.type == "thinking"]
        usage = self._usage(response.usage)
        return LLMReply(
            raw=raw,
            parsed=parsed,
            provider=self.provider,
            model=response.model or model.id,
            usage=usage.model_copy(update={"cost_usd": model.prices.cost(usage)}),
            latency_ms=latency,
            reasoning="\n".join(t for t in thinking if t) or None,
        )

    @staticmethod
    def _answer(blocks: list[Any], strategy: StructuredOutput, tool: str) -> tuple[str, dict[str, Any] | None]:
        if strategy is StructuredOutput.FORCED_TOOL:
            for block in blocks:
                if block.type == "tool_use" and block.name == tool and isinstance(block.input, dict):
                    return json.dumps(block.input, sort_keys=True), dict(block.input)
        text = "".join(getattr(b, "text", "") for b in blocks if b.type == "text")
        return text, find_json_object(text)

    @staticmethod
    def _usage(raw: Any) -> Usage:
        reads = int(getattr(raw, "cache_read_input_tokens", 0) or 0)
        writes = int(getattr(raw, "cache_creation_input_tokens", 0) or 0)
        details = getattr(raw, "output_tokens_details", None)
        reasoning = int(getattr(details, "thinking_tokens", 0) or 0) if details is not None else 0
        return Usage(
            input_tokens=int(raw.input_tokens) + reads + writes,  # the API counts cache reads/writes apart
            cached_input_tokens=reads,
            cache_write_tokens=writes,
            output_tokens=int(raw.output_tokens),
            reasoning_tokens=reasoning,
        )
