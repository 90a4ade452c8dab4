"""`aegis doctor`: what is configured, what is reachable, and (with --live) whether each provider answers.

Keys are reported as set or missing, never shown. A live check makes one minimal structured call per
configured provider through the same client code the roles use, and says clearly what it skipped.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from aegis.settings import Settings
from agents.llm.catalog import CATALOG
from agents.llm.client import LLMClient, LLMRequest, ProviderError
from agents.llm.factory import UnconfiguredClient, live_client
from agents.llm.json_reply import find_json_object
from prompts.loader import Message, messages_hash


@dataclass(frozen=True, slots=True)
class Check:
    area: str
    name: str
    status: str  # "ok", "missing", "skipped", "failed", "info"
    detail: str


class Pong(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool


def configuration(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    checks = [
        Check("config", "mode", "info", str(settings.mode)),
        Check("config", "data_dir", "info", str(settings.data_dir)),
    ]
    for role, c in settings.deliberation.roles.items():
        detail = f"provider={c.provider} model={c.model} budget={c.target_s}/{c.warn_s}/{c.fail_s} s"
        checks.append(Check("roles", role, "info", detail))
    for name, spec in CATALOG.items():
        present = bool(env.get(spec.api_key_env))
        status, detail = ("ok", f"{spec.api_key_env} is set") if present else ("missing", f"{spec.api_key_env} not set")
        checks.append(Check("keys", name, status, detail))
    budgets = settings.llm.budgets
    checks.append(Check("budgets", "llm", "info", f"${budgets.per_decision_usd}/decision, ${budgets.per_day_usd}/day"))
    return checks


def _writable(folder: Path) -> Check:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return Check("stores", "sqlite", "failed", f"{folder} is not writable: {exc}")
    return Check("stores", "sqlite", "ok", f"embedded records and checkpoints in {folder}")


def stores(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    checks = [_writable(settings.data_dir)]
    for variable, name in (("AEGIS_POSTGRES_URL", "postgres"), ("AEGIS_REDIS_URL", "redis")):
        if not env.get(variable):
            checks.append(Check("stores", name, "skipped", f"{variable} not set: embedded default in use"))
            continue
        checks.append(_probe(name, env[variable]))
    return checks


def _probe(name: str, url: str) -> Check:
    try:
        if name == "postgres":
            import psycopg

            with psycopg.connect(url, connect_timeout=3) as connection:
                version = connection.execute("SHOW server_version").fetchone()
            return Check("stores", name, "ok", f"PostgreSQL {version[0] if version else '?'}")
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        return Check("stores", name, "ok", f"Redis {client.info().get('redis_version', '?')}")
    except Exception as exc:  # a doctor reports every failure, whatever its type
        return Check("stores", name, "failed", f"{type(exc).__name__}: {exc}")


def ping_request(provider: str, model: str) -> LLMRequest:
    messages = (
        Message("system", 'You are a health check. Reply with the JSON object {"ok": true} and nothing else.'),
        Message("user", "Health check: reply in JSON."),
    )
    return LLMRequest(
        role="doctor", model=model, messages=messages, prompt_id="doctor@v1", prompt_hash=messages_hash(messages),
        schema_name="Pong", json_schema=Pong.model_json_schema(), timeout_s=30.0, max_output_tokens=64,
    )  # fmt: skip


async def live_checks(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    checks = []
    for name, spec in CATALOG.items():
        client: LLMClient = live_client(spec, settings.llm, env)
        models = {c.model for c in settings.deliberation.roles.values() if c.provider == name} or {spec.models[0].id}
        for model in sorted(models):
            if isinstance(client, UnconfiguredClient):
                checks.append(Check("live", f"{name}/{model}", "skipped", f"no call made: {client.reason}"))
                continue
            try:
                reply = await client.complete(ping_request(name, model))
            except ProviderError as exc:
                checks.append(Check("live", f"{name}/{model}", "failed", f"{type(exc).__name__}: {exc}"))
                continue
            valid = find_json_object(reply.raw) == {"ok": True} or reply.parsed == {"ok": True}
            detail = (
                f"{reply.latency_ms:.0f} ms, {reply.usage.input_tokens} in / {reply.usage.output_tokens} out tokens, "
                f"${reply.usage.cost_usd:.6f}" + ("" if valid else f"; unexpected reply {reply.raw[:80]!r}")
            )
            checks.append(Check("live", f"{name}/{model}", "ok" if valid else "failed", detail))
    return checks


def run_doctor(settings: Settings, live: bool, env: Mapping[str, str] | None = None) -> list[Check]:
    env = os.environ if env is None else env
    checks = configuration(settings, env) + stores(settings, env)
    if live:
        checks += asyncio.run(live_checks(settings, env))
    else:
        checks.append(Check("live", "providers", "skipped", "no provider called (add --live to make one call each)"))
    return checks
