"""Translating the official SDKs' exceptions into the project's `ProviderError` types.

Both SDKs (openai, anthropic) raise a status error carrying the HTTP status and response, a connection
error, and a timeout error (a subclass of the connection error). The callers decide retry or fail closed
by the translated type, never by parsing messages.
"""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

from agents.llm.client import (
    ProviderError,
    ProviderRejectedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)

RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def retry_after_seconds(headers: Any) -> float | None:
    """The provider's Retry-After hint (`retry-after-ms`, or `retry-after` in seconds or as an HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def translate(
    exc: Exception,
    provider: str,
    *,
    timeout_types: tuple[type[Exception], ...],
    connection_types: tuple[type[Exception], ...],
    status_types: tuple[type[Exception], ...],
) -> ProviderError:
    """The `ProviderError` for an SDK exception (the SDK's own classes are passed in)."""
    if isinstance(exc, timeout_types):
        return ProviderTimeoutError(f"{provider}: request timed out")
    if isinstance(exc, connection_types):
        return ProviderUnavailableError(f"{provider}: connection failed: {exc}")
    if isinstance(exc, status_types):
        status = int(getattr(exc, "status_code", 0) or 0)
        response = getattr(exc, "response", None)
        hint = retry_after_seconds(getattr(response, "headers", None))
        message = f"{provider}: HTTP {status}: {_short(exc)}"
        if status in RETRYABLE_STATUSES:
            return ProviderUnavailableError(message, status=status, retry_after=hint)
        return ProviderRejectedError(message, status=status)
    return ProviderError(f"{provider}: {type(exc).__name__}: {exc}")


def _short(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])[:300]
    return str(exc)[:300]
