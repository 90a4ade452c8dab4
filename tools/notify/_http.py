"""A small JSON POST over the standard library, for the HTTP channels (Slack, Telegram, SMS/voice gateways).

This module owns the one HTTP call the channels make and the mapping of its outcomes onto the
`NotifyError` hierarchy. It must never retry (the dispatcher does), never follow a redirect (a POST turned
into a GET would look delivered and be lost), and never put a URL or a secret into an error message (the
URL of a webhook or of the Telegram API carries the credential).

Decisions that must not be silently changed:
- Retry may help after HTTP 5xx, 408 (request timeout) and 429 (rate limited), a timeout, a refused or
  reset connection: `ChannelUnavailableError`. Every other non-2xx answer, redirects included, is
  `ChannelRejectedError`.
- The blocking call runs in a worker thread (`asyncio.to_thread`) with a timeout: the event loop that
  trades never waits on a receiver.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from tools.notify.base import ChannelRejectedError, ChannelUnavailableError, redacted

__all__ = ["post_json"]

_RETRYABLE_STATUSES = frozenset({408, 429})
_MAX_BODY_BYTES = 64 * 1024  # a receiver's answer is read (to free the connection) up to this much
_MAX_QUOTED_CHARS = 200  # of a refusal's body, quoted in the error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError


async def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """POST `body` as JSON to `url`; return on a 2xx answer, raise a `NotifyError` otherwise.

    `secrets` (tokens, and the URL itself when it carries one) are redacted from any error message.
    """
    hidden = (*_credentials_of(url), *secrets)
    where = _host_of(url)
    try:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
    except ValueError:
        raise ChannelRejectedError("the configured endpoint URL is not a valid URL") from None
    await asyncio.to_thread(_post, request, timeout_s, where, hidden)


def _post(request: urllib.request.Request, timeout_s: float, where: str, hidden: tuple[str, ...]) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(_MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        try:
            quoted = exc.read(_MAX_BODY_BYTES).decode("utf-8", "replace")[:_MAX_QUOTED_CHARS]
        finally:
            exc.close()
        message = redacted(f"HTTP {exc.code} from {where}" + (f": {quoted}" if quoted else ""), hidden)
        if exc.code >= 500 or exc.code in _RETRYABLE_STATUSES:
            raise ChannelUnavailableError(message) from None
        raise ChannelRejectedError(message) from None
    except urllib.error.URLError as exc:  # refused, unresolvable, TLS, or a timeout while connecting
        raise ChannelUnavailableError(redacted(f"cannot reach {where}: {exc.reason}", hidden)) from None
    except TimeoutError:
        raise ChannelUnavailableError(f"no answer from {where} within {timeout_s:g} s") from None
    except (OSError, http.client.HTTPException) as exc:  # reset, closed or garbled mid-answer
        raise ChannelUnavailableError(
            redacted(f"connection to {where} failed: {type(exc).__name__}: {exc}", hidden)
        ) from None


def _credentials_of(url: str) -> tuple[str, ...]:
    """The parts of `url` that may carry a credential: all of it, its path, its query, its password."""
    try:
        parts = urlsplit(url)
        return tuple(part for part in (url, parts.path, parts.query, parts.password) if part and part != "/")
    except ValueError:
        return (url,)


def _host_of(url: str) -> str:
    """The host (and port) of `url`, which names the receiver without its path, query or credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "the endpoint"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "the endpoint"
