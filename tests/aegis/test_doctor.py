"""`aegis doctor`: reports keys without showing them, skips what is not configured, calls what is."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from aegis import Settings
from aegis.cli import app
from aegis.doctor import run_doctor
from agents.llm.catalog import DEEPSEEK
from tests.agents.llm.payloads import anthropic_message, deepseek_completion, text


def test_without_keys_the_live_check_says_what_it_skipped(tmp_path: Path) -> None:
    checks = run_doctor(Settings(data_dir=tmp_path), live=True, env={})
    live = {c.name: c for c in checks if c.area == "live"}
    assert live and all(c.status == "skipped" for c in live.values())
    assert "set DEEPSEEK_API_KEY" in live["deepseek/deepseek-chat"].detail
    assert "set ANTHROPIC_API_KEY" in next(c.detail for n, c in live.items() if n.startswith("anthropic/"))
    keys = {c.name: c.status for c in checks if c.area == "keys"}
    assert keys == {"deepseek": "missing", "anthropic": "missing"}
    assert next(c for c in checks if c.name == "sqlite").status == "ok"


def test_with_keys_it_makes_one_minimal_call_per_provider_model(tmp_path: Path) -> None:
    env = {"DEEPSEEK_API_KEY": "sk-doctor-secret", "ANTHROPIC_API_KEY": "sk-ant-doctor-secret"}
    settings = Settings(data_dir=tmp_path)
    roles = {r: c.model_copy(update={"provider": "deepseek" if r != "commander" else "anthropic"})
             for r, c in settings.deliberation.roles.items()}  # fmt: skip
    settings = settings.model_copy(update={"deliberation": settings.deliberation.model_copy(update={"roles": roles})})
    with respx.mock(using="httpcore2", assert_all_mocked=True) as mock:
        deepseek = mock.post("https://api.deepseek.com/v1/chat/completions").respond(
            200, json=deepseek_completion('{"ok": true}')
        )
        mock.post("https://api.anthropic.com/v1/messages").respond(
            200, json=anthropic_message([text('{"ok": true}')], model="claude-opus-5-5")
        )
        checks = run_doctor(settings, live=True, env=env)
    live = {c.name: c for c in checks if c.area == "live"}
    assert set(live) == {"deepseek/deepseek-chat", "deepseek/deepseek-reasoner", "anthropic/claude-opus-5-5"}
    assert all(c.status == "ok" for c in live.values()), live
    assert deepseek.call_count == 2
    for call in deepseek.calls:  # the answer's 64 tokens, plus the room a reasoning model's thinking counts in
        body = json.loads(call.request.content)
        assert body["max_tokens"] == 64 + DEEPSEEK.model(body["model"]).reasoning_allowance
    assert not any("secret" in c.detail for c in checks)


def test_a_failing_provider_makes_the_command_exit_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-bad")
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path))
    with respx.mock(using="httpcore2", assert_all_mocked=True) as mock:
        mock.post("https://api.deepseek.com/v1/chat/completions").mock(
            return_value=httpx.Response(401, json={"error": {"message": "Authentication Fails", "type": "auth"}})
        )
        result = CliRunner().invoke(app, ["doctor", "--live"])
    assert result.exit_code == 1
    assert "401" in result.output and "sk-bad" not in result.output
