"""Keeping secrets out of log lines: by pattern, and by the values known to be secret.

This module owns what counts as a secret in a log line: API keys (`sk-...`, this server's `aegis_<id>_...`),
bearer tokens, the password of a URL (`postgres://user:pw@host`), the value of any `*api_key*`, `*secret*`,
`*password*`, `*_token` setting written as `name=value` or `"name": "value"`, a Telegram bot token in a URL,
and every value registered as secret (`register`: the settings' `SecretStr` values, the server's JWT secret
among them, the providers' keys from their environment variables, the passwords of the configured URLs).

Decisions that must not be silently changed:
- Redaction runs on the formatted line (`RedactingFormatter`), after the message's arguments, the extra
  fields and any traceback were rendered into it: a secret inside an exception's message is caught too.
- Patterns never consume a quote or a backslash, so a redacted JSON line still parses; a known value is
  replaced both as written and as JSON escapes it.
- Values shorter than `MIN_SECRET_LENGTH` are not registered: replacing "1" everywhere would hide the log.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 4

_VALUE = r"[^\s\"'\\,;&}]+"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s\"'\\@]*:)([^@\s\"'\\/]+)(@)"), rf"\g<1>{MASK}\g<3>"),
    # Authorization: Bearer <token>
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{MASK}"),
    # this server's API keys (`state.api_keys`): aegis_<public id>_<secret>; the public id stays readable
    (re.compile(r"\b(aegis_[0-9a-f]{12}_)[A-Za-z0-9_-]{43}"), rf"\g<1>{MASK}"),
    # provider keys: sk-..., sk-ant-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), MASK),
    # a Telegram bot token in a URL's path: /bot<digits>:<secret>
    (re.compile(r"\bbot\d{3,}:[A-Za-z0-9_-]{10,}"), f"bot{MASK}"),
    # name=value, name: value, "name": "value" for names that say "secret"
    (
        re.compile(
            r"(?i)(\b[A-Za-z0-9_]*(?:api[_-]?key|secret|password|passwd)[A-Za-z0-9_]*|\b[A-Za-z0-9_]*_token|"
            r"\btoken|\bauthorization)((?:\\?\")?\s*[:=]\s*(?:\\?\")?)(?!\s)(?!\*\*\*)(?!bearer\s)(" + _VALUE + ")"
        ),
        rf"\g<1>\g<2>{MASK}",
    ),
)


class Redactor:
    """Masks secrets in text: the patterns above and the values registered (thread-safe)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, values: Iterable[str | None]) -> None:
        """Mask these exact values wherever they appear from now on."""
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_SECRET_LENGTH:
                    self._values.add(value)
                    escaped = json.dumps(value)[1:-1]
                    if escaped != value:
                        self._values.add(escaped)
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))  # longest first: no part survives

    def redact(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RedactingFormatter(logging.Formatter):
    """Any formatter, its output redacted."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(self._inner.format(record))


REDACTOR = Redactor()  # the process's: logging is process-wide, and so are the secrets it must not write
