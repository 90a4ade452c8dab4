"""The `--llm` switch of the CLI: which providers the roles use for a run.

- rules: the deterministic baseline for every role (the embedded default; no key, no network).
- live: DeepSeek for the analyst and the validator, Claude for the commander (keys from the environment).
- record: live, and every reply is kept as a cassette in the given folder.
- replay: every role is served from the cassettes of an earlier recorded run (strict: a miss fails closed).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from aegis.settings import Settings

LIVE_PROVIDERS = {"analyst": "deepseek", "validator": "deepseek", "commander": "anthropic"}


class LLMMode(StrEnum):
    RULES = "rules"
    LIVE = "live"
    RECORD = "record"
    REPLAY = "replay"


def with_llm_mode(settings: Settings, mode: LLMMode, cassettes: Path | None = None) -> Settings:
    if mode in (LLMMode.RECORD, LLMMode.REPLAY) and cassettes is None:
        raise ValueError(f"--llm {mode} needs --cassettes <folder>")
    providers = {
        LLMMode.RULES: dict.fromkeys(LIVE_PROVIDERS, "rules"),
        LLMMode.LIVE: LIVE_PROVIDERS,
        LLMMode.RECORD: LIVE_PROVIDERS,
        LLMMode.REPLAY: dict.fromkeys(LIVE_PROVIDERS, "replay"),
    }[mode]
    roles = {
        role: config.model_copy(update={"provider": providers.get(role, config.provider)})
        for role, config in settings.deliberation.roles.items()
    }
    llm = settings.llm.model_copy(
        update={
            "record_cassettes": cassettes if mode is LLMMode.RECORD else settings.llm.record_cassettes,
            "replay_cassettes": cassettes if mode is LLMMode.REPLAY else settings.llm.replay_cassettes,
        }
    )
    deliberation = settings.deliberation.model_copy(update={"roles": roles})
    return settings.model_copy(update={"deliberation": deliberation, "llm": llm})


def provider_label(settings: Settings) -> str:
    """How the run's roles are served, for the console (the rules baseline is never called an LLM)."""
    providers = {role: config.provider for role, config in settings.deliberation.roles.items()}
    if set(providers.values()) == {"rules"}:
        return "rules (deterministic baseline, not an LLM)"
    return ", ".join(f"{role}={provider}" for role, provider in providers.items())
