"""Logging set up from the settings, once per process, at the command line's entry (`aegis.cli`).

This module owns which values of the settings and the environment are secrets the log must never show:
every `SecretStr`, every string setting whose name says key, secret, password or token, the password of
each configured URL, each provider's key (the environment variable the catalog or a backup route names),
and any environment variable named `*_API_KEY`, `*_SECRET`, `*_TOKEN` or `*_PASSWORD`. They are registered
with the log's redactor before the first line is written. Later secrets (the server's API keys, its JWT
secret) are registered by their owner with `register_secrets`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from aegis.runtime.logs import LogConfig, configure_logging
from aegis.runtime.redaction import REDACTOR
from aegis.settings import Settings
from agents.llm.catalog import CATALOG

_SECRET_NAME = re.compile(r"(?i)(api_?key|secret|password|passwd|token)")
_SECRET_ENV = re.compile(r"(?i)(_API_KEY|_SECRET|_TOKEN|_PASSWORD)$")


def setup_logging(settings: Settings | None) -> None:
    """Configure the log from `settings.log` (defaults when the settings could not be read: the command
    reports that itself) and register the secrets it must never show."""
    register_secrets(secrets_of(settings) if settings is not None else _environment_secrets())
    configure_logging(settings.log if settings is not None else LogConfig())


def register_secrets(values: Iterable[str | None]) -> None:
    """Values no log line may show from now on (API keys issued, a JWT secret read)."""
    REDACTOR.register(values)


def secrets_of(settings: Settings) -> set[str]:
    found = set(_model_secrets(settings))
    for url in (settings.postgres_url, settings.redis_url):
        password = urlsplit(url).password if url else None
        if password:
            found.add(password)
    names = {spec.api_key_env for spec in CATALOG.values()}
    names |= {route.api_key_env for routes in settings.llm.backups.values() for route in routes if route.api_key_env}
    found |= {os.environ[name] for name in names if os.environ.get(name)}
    return found | _environment_secrets()


def _environment_secrets() -> set[str]:
    return {value for name, value in os.environ.items() if _SECRET_ENV.search(name) and value}


def _model_secrets(value: object, name: str = "") -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for field, inner in value.__dict__.items():
            yield from _model_secrets(inner, field)
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _model_secrets(inner, str(key))
    elif isinstance(value, list | tuple | set | frozenset):
        for inner in value:
            yield from _model_secrets(inner, name)
    elif isinstance(value, str) and _SECRET_NAME.search(name) and not name.endswith("_env"):
        yield value
