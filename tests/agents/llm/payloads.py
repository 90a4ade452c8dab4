"""Realistic provider payloads (shapes as the DeepSeek and Anthropic APIs return them)."""

from __future__ import annotations

import json
from typing import Any

ANALYSIS = {
    "direction": "long",
    "confidence": 0.72,
    "thesis": "trend and momentum agree",
    "evidence": ["report.trend=up"],
}
VERDICT = {"verdict": "approve", "reasons": ["all checks pass"], "violated_checks": []}
ORDER = {
    "action": "buy", "size_pct": 2.0, "order_type": "limit", "limit_price": 101.5,
    "stop_loss_pct": 1.2, "take_profit_pct": 2.4, "rationale": "enter on the confirmed cross",
}  # fmt: skip
# The workflow's roles: Sena's plan of "stop the value bot until Monday", Lubit's verdict, RUNE's opinion.
PLAN: dict[str, Any] = {
    "summary": "Stop the value bot until Monday 2026-12-07 00:00 UTC",
    "steps": [{
        "id": "s1", "tool": "bot.stop",
        "args": {"bot_id": "value", "until": "2026-12-07T00:00:00+00:00",
                 "reason": "operator request: stop the value bot until Monday"},
        "depends_on": [], "why": "stops the value bot until Monday as asked",
    }],
    "evidence": ["request: 'the value bot'", "facts.bots has value", "request: 'until Monday'; today is Friday"],
    "unsupported": None,
}  # fmt: skip
LUBIT: dict[str, Any] = {
    "verdict": "approve",
    "reasons": ["s1: bot.stop is within the trade role, its arguments valid"],
    "priorities": {"s1": 1},
}
OPINION: dict[str, Any] = {
    "concerns": [],
    "summary": "s1 stopped the value bot until Monday, as asked and approved by lee.",
}


def deepseek_completion(
    content: str, *, model: str = "deepseek-chat", reasoning: str | None = None, cached: int = 0
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    usage: dict[str, Any] = {
        "prompt_tokens": 812,
        "completion_tokens": 95 + (410 if reasoning else 0),
        "total_tokens": 907 + (410 if reasoning else 0),
        "prompt_tokens_details": {"cached_tokens": cached},
        "prompt_cache_hit_tokens": cached,
        "prompt_cache_miss_tokens": 812 - cached,
    }
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": 410}
    return {
        "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
        "object": "chat.completion",
        "created": 1763900000,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage,
        "system_fingerprint": "fp_3a5770e1b4_prod0820_fp8_kvcache",
    }


def anthropic_message(
    blocks: list[dict[str, Any]], *, model: str = "claude-opus-5", cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 150,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "output_tokens": 230,
            "output_tokens_details": {"thinking_tokens": 120},
        },
    }


def tool_use(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": name, "input": payload}


def thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def openai_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def as_json(value: dict[str, Any]) -> str:
    return json.dumps(value)
