"""Extracting the JSON object from a model's text reply (fenced, bare, or surrounded by prose)."""

from __future__ import annotations

import json
from typing import Any

from agents.llm.client import InvalidReplyError


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first top-level JSON object in `text`, or None: the stage runner then asks for a repair."""
    try:
        return extract_json_object(text)
    except InvalidReplyError:
        return None


def extract_json_object(text: str) -> dict[str, Any]:
    """The first top-level JSON object in `text`. Raises `InvalidReplyError` when there is none."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    snippet = text[:120].replace("\n", " ")
    raise InvalidReplyError(f"no JSON object in the reply: {snippet!r}")
