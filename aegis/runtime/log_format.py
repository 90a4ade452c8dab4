"""What every log line carries and how it looks: a category, the session's ids, JSON or human text.

The seven categories are the agent-system status document's (its logging system: "7 logging categories";
what it records: agent activity, message exchange, task execution, performance metrics, health checks,
errors, and a complete audit trail): agent, message, task, performance, health, error, audit.

A line gets its category, in this order: the `category` its writer gave (`extra={"category": "audit"}`);
"error" for ERROR and above; the category of its logger's package (`CATEGORY_OF_LOGGER`, longest prefix
first; a prefix ending in "_" matches any module it begins); else "task". An unknown category given by a
writer is replaced ("task", or "error" at ERROR and above) rather than passed on.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

from aegis.runtime.log_context import correlation_id_var, event_id_var
from state.store.audit_lines import AUDIT_LOGGER

CATEGORIES: Final = ("agent", "message", "task", "performance", "health", "error", "audit")
DEFAULT_CATEGORY: Final = "task"

# Logger name prefixes -> category: the roles and flows are agents; the bus, feeds and alert channels carry
# messages; the risk monitor and the health checks report health; the metrics are performance.
CATEGORY_OF_LOGGER: Final[dict[str, str]] = {
    AUDIT_LOGGER: "audit",
    "agents": "agent",
    "graphs": "agent",
    "prompts": "agent",
    "state.bus": "message",
    "tools.notify": "message",
    "tools.feeds": "message",
    "aegis.alerts": "message",
    "aegis.runtime.feed": "message",
    "aegis.runtime.monitor": "health",
    "aegis.runtime.health_": "health",  # the health monitor's modules (`aegis/runtime/health_*.py`)
    "aegis.runtime.metrics": "performance",
}
_PREFIXES = sorted(CATEGORY_OF_LOGGER, key=len, reverse=True)


def category_of(record: logging.LogRecord) -> str:
    given = getattr(record, "category", None)
    if isinstance(given, str) and given in CATEGORIES:
        return given
    if given is None and record.levelno >= logging.ERROR:
        return "error"
    if given is None:
        for prefix in _PREFIXES:
            if record.name == prefix or record.name.startswith(prefix if prefix.endswith("_") else prefix + "."):
                return CATEGORY_OF_LOGGER[prefix]
    return "error" if record.levelno >= logging.ERROR else DEFAULT_CATEGORY


class ContextFilter(logging.Filter):
    """Stamps each record with its category and the session's event and correlation ids (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.category = category_of(record)
        if getattr(record, "event_id", None) is None:
            record.event_id = event_id_var.get()
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id_var.get()
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp, level, logger, category, message, event_id, correlation_id, and
    any extra fields the writer gave (an audit line's actor, action and detail)."""
    return JsonFormatter(
        "{levelname}{name}{category}{message}{event_id}{correlation_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
        json_default=_as_text,
        json_ensure_ascii=False,
    )


class ConsoleFormatter(logging.Formatter):
    """`12:01:02 INFO    [audit] aegis.audit: halt by alice (event e-1)`: for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(category)s] %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        event_id = getattr(record, "event_id", None)
        if event_id:
            first, newline, rest = text.partition("\n")
            text = f"{first} (event {event_id}){newline}{rest}"
        return text


def _as_text(value: Any) -> str:
    """What JSON cannot hold, as text: times in ISO 8601, anything else as `str` gives it."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)
