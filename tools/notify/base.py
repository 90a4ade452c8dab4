"""The channel seam: the `Channel` protocol, the `NotifyError` hierarchy and what every channel shares.

This module owns what the dispatcher may ask of a channel adapter (Slack, Telegram, e-mail, the SMS and
voice gateways, the log), the errors an adapter may raise, the text of an alert as a person reads it, and
the redaction of secrets from error messages. It holds no I/O.

Decisions that must not be silently changed:
- The error type decides retry: `ChannelUnavailableError` (a 5xx, a timeout, a refused connection) may be
  retried; `ChannelRejectedError` (a 4xx, a refused recipient, a bad configuration) never is. Callers never
  parse messages to decide.
- An adapter's error messages never carry a secret (bot token, password, webhook URL): they are recorded
  and logged as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from state.alerts import Alert

__all__ = [
    "Channel",
    "ChannelRejectedError",
    "ChannelUnavailableError",
    "NotifyError",
    "alert_subject",
    "alert_text",
    "redacted",
]

_REDACTED = "***"


class NotifyError(Exception):
    """Base of every error raised by a channel adapter. The message is safe to record (no secrets)."""


class ChannelUnavailableError(NotifyError):
    """The channel could not take the alert right now (server error, timeout, refused connection); retry may help."""


class ChannelRejectedError(NotifyError):
    """The channel refused the alert (bad request, unknown recipient, bad credentials); retrying will not help."""


class Channel(Protocol):
    """One way of reaching a person. `name` is the channel's routing name ("slack", "sms", ...)."""

    name: str

    async def send(self, alert: Alert, target: str) -> None:
        """Deliver `alert` to `target` (a Slack channel, chat id, e-mail address or phone number) once.

        Raises `ChannelUnavailableError` or `ChannelRejectedError`; never retries by itself.
        """
        ...


def alert_subject(alert: Alert) -> str:
    """One line naming the alert: its level and condition, e.g. "[AEGIS CRITICAL] loss_per_minute"."""
    return f"[AEGIS {alert.level.name}] {alert.kind}"


def alert_text(alert: Alert) -> str:
    """The alert as a person reads it: subject and message, the figures of its detail, its id and time."""
    lines = [f"{alert_subject(alert)}: {alert.message}"]
    lines.extend(f"{key}: {value}" for key, value in sorted(alert.detail.items()))
    lines.append(f"alert {alert.alert_id}, raised {alert.raised_at.isoformat()}")
    return "\n".join(lines)


def redacted(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by "***" (longest first, so no part of one survives)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text
