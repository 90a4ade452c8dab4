"""What the front door makes of what it is given: an event's JSON object, or a refused input.

`Pipeline.submit` takes anything. A mapping that JSON can hold (times and enums allowed, as `parse_event`
reads them) goes on as the event; an `EventEnvelope` as its JSON; anything else (a list, None, a string, a
mapping with a non-string key or a value JSON cannot hold, nesting without end) becomes a refused input
(`refused_input`) that the graph records as rejected, naming what was wrong. Nothing here raises for what
it is given, and nothing is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from graphs.deliberation.nodes import refused_input
from state.events import EventEnvelope, event_to_json

JSON_DEPTH = 64  # deeper nesting in a submitted mapping is refused (an event is a few levels deep)
SHOWN_CHARS = 500  # of a refused input, kept in its dead letter


def json_kind(value: Any) -> str:
    """What a value is, in JSON's words ("an array", "null"); another type by its name ("a Python set")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"


def event_json(event: object) -> dict[str, Any]:
    """What the graph takes: an event as a JSON object, or, for anything that is not one, a refused input
    (recorded as rejected, naming what was wrong)."""
    if isinstance(event, EventEnvelope):
        return event_to_json(event)
    if not isinstance(event, Mapping):
        return refused_input("<event>", f"an event must be a JSON object, not {json_kind(event)}", _shown(event))
    problem = _not_json(event, "", 0)
    if problem is not None:
        return refused_input("<event>", problem, _shown(event))
    return dict(event)


def _not_json(value: object, path: str, depth: int) -> str | None:
    """Why `value` cannot be an event's JSON, or None. Times and enums pass: callers of the Python API use them
    for JSON's strings, and `parse_event` reads them so."""
    where = f" at {path if len(path) <= 80 else path[:77] + '...'}" if path else ""
    if depth > JSON_DEPTH:
        return f"not JSON data: nested deeper than {JSON_DEPTH} levels{where}"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"not JSON data: the key {key!r}{where} is not a string"
            problem = _not_json(item, f"{path}.{key}" if path else key, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = _not_json(item, f"{path}.{index}" if path else str(index), depth + 1)
            if problem is not None:
                return problem
        return None
    if value is None or isinstance(value, str | int | float | datetime | date | Enum):
        return None
    return f"not JSON data: {json_kind(value)}{where} is not a JSON value"


def _shown(value: object) -> object:
    """`value` as a dead letter can keep it: as JSON when it is small JSON, else its text, shortened."""
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:SHOWN_CHARS]
    return json.loads(text) if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS]
