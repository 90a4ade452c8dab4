"""The log: JSON lines with a category and the session's ids, human text on a terminal, rotation, redaction,
and one audit line per committed audit entry."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from aegis.logging_setup import register_secrets, setup_logging
from aegis.runtime.log_context import bound_event
from aegis.runtime.log_format import CATEGORIES
from aegis.runtime.logs import LogConfig, configure_logging, log_to_file
from aegis.settings import Settings
from agents.llm.client import LLMClient, LLMReply, LLMRequest
from agents.llm.config import LLMConfig
from agents.llm.factory import build_clients
from state.alerts import AlertLevel
from state.clock import SimulatedClock
from state.store.base import AuditEntry
from state.store.factory import open_store
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal
from tools.notify.config import ChannelsConfig, NotifyConfig, SlackConfig


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """Each test configures the process's log; afterwards the root logger is as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_carry_a_category_and_the_sessions_ids() -> None:
    out = io.StringIO()
    configure_logging(LogConfig(format="json", level="DEBUG"), stream=out)
    with bound_event("e-1", "root-1"):
        logging.getLogger("agents.analyst").info("asked the analyst")
        logging.getLogger("aegis.runtime.worker").debug("took %s", "e-1")
    logging.getLogger("aegis.runtime.worker").error("the store is down")
    logging.getLogger("anything").info("p95 computed", extra={"category": "performance"})
    logging.getLogger("aegis.runtime.health_monitor").info("redis ok")
    lines = json_lines(out.getvalue())
    assert [(line["category"], line["event_id"], line["correlation_id"]) for line in lines] == [
        ("agent", "e-1", "root-1"),
        ("task", "e-1", "root-1"),
        ("error", None, None),
        ("performance", None, None),
        ("health", None, None),
    ]
    assert lines[1]["message"] == "took e-1" and lines[1]["level"] == "DEBUG"
    assert all(line["category"] in CATEGORIES and line["timestamp"] for line in lines)


def test_a_terminal_gets_human_text_and_anything_else_json() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    configure_logging(LogConfig(), stream=terminal)
    with bound_event("e-9"):
        logging.getLogger("aegis.audit").warning("trading_state by alice")
    configure_logging(LogConfig(), stream=pipe)
    logging.getLogger("aegis.audit").warning("trading_state by bob")
    [text] = terminal.getvalue().splitlines()
    assert "WARNING [audit] aegis.audit: trading_state by alice (event e-9)" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert json_lines(pipe.getvalue())[0]["message"] == "trading_state by bob"
    forced = io.StringIO()
    configure_logging(LogConfig(format="console"), stream=forced)
    logging.getLogger("x").warning("forced")
    assert forced.getvalue().rstrip().endswith("[task] x: forced")


def test_the_log_file_rotates_at_max_bytes_and_keeps_the_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "aegis.log"
    configure_logging(LogConfig(format="json", file=path, max_bytes=2048, backups=2), stream=io.StringIO())
    for n in range(200):
        logging.getLogger("aegis.runtime.worker").info("line %03d %s", n, "x" * 60)
    kept = sorted(p.name for p in path.parent.iterdir())
    assert kept == ["aegis.log", "aegis.log.1", "aegis.log.2"]
    for file in path.parent.iterdir():
        assert file.stat().st_size <= 2048
        assert all(line["category"] == "task" for line in json_lines(file.read_text()))
    assert json_lines(path.read_text())[-1]["message"].startswith("line 199")


def test_log_to_file_takes_the_lines_off_the_terminal(tmp_path: Path) -> None:
    terminal = _Terminal()
    configure_logging(LogConfig(level="WARNING"), stream=terminal)
    log_to_file(tmp_path / "run" / "aegis.log")
    logging.getLogger("aegis.alerts").info("posture changed")
    assert terminal.getvalue() == ""
    [line] = json_lines((tmp_path / "run" / "aegis.log").read_text())
    assert (line["category"], line["message"]) == ("message", "posture changed")


KEY = "sk-live-0123456789abcdefghij"
SECRETS = {
    KEY: "DEEPSEEK_API_KEY=%s",
    "eyJhbGciOiJIUzI1NiJ9.payload.signature": "Authorization: Bearer %s",
    "pg-pass-42": "postgres://aegis:%s@db.internal:5432/aegis",
    "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw": "https://api.telegram.org/bot%s/sendMessage",
    "webhook-secret-77": '{"slack_api_key": "%s"}',
    "hunter2-registered-value": "a value known to be secret: %s",
    "Zx9_-Q7rT2mK4pL8vN3bW6yC1dF5gH0jS2aE7uI9oP4": "key aegis_0123456789ab_%s shown once",
}


def test_no_key_token_or_password_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "aegis.log"
    configure_logging(LogConfig(format="json", file=path), stream=io.StringIO())
    register_secrets(["hunter2-registered-value"])
    log = logging.getLogger("tools.notify.slack")
    for secret, shape in SECRETS.items():
        log.warning(shape, secret)
    log.warning("detail", extra={"detail": {"password": "pg-pass-42", "url": f"redis://:{'pg-pass-42'}@cache:6379"}})
    try:
        raise RuntimeError(f"the provider refused key {KEY}")
    except RuntimeError:
        log.exception("a call failed")
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text, secret
    lines = json_lines(text)  # still JSON: the masks never eat a quote
    assert len(lines) == len(SECRETS) + 2
    assert "postgres://aegis:***@db.internal:5432/aegis" in text and "Bearer ***" in text
    assert "aegis_0123456789ab_***" in text  # an API key's public id stays readable
    assert lines[-1]["category"] == "error" and "RuntimeError" in lines[-1]["exc_info"]


def test_the_settings_secrets_are_registered_before_the_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "plain-looking-key-0042")
    webhook = "https://hooks.slack.example/T000/B000/plainwebhookvalue"
    path = tmp_path / "aegis.log"
    settings = Settings(
        data_dir=tmp_path / "data",
        postgres_url="postgresql://aegis:db-password-9@127.0.0.1:5432/aegis",
        notify=NotifyConfig(channels=ChannelsConfig(slack=SlackConfig(webhook_url=webhook))),
        log=LogConfig(format="json", file=path),
    )
    setup_logging(settings)
    for value in ("plain-looking-key-0042", webhook, "db-password-9"):
        logging.getLogger("aegis").warning("about to use %s", value)
    text = path.read_text()
    assert "plain-looking-key-0042" not in text and "plainwebhookvalue" not in text and "db-password-9" not in text
    assert text.count("about to use ***") == 3


async def audit_then_fail(store: Any, at: datetime) -> None:
    """An audit entry inserted in a transaction that then fails: rolled back, so never a line."""
    async with store._use(transaction=True) as db:
        await store._insert_audit(db, (AuditEntry("mallory", "never_committed", {}),), at)
        raise RuntimeError("the transaction fails after the audit insert")


class LoggingRules:
    """The rules baseline, writing a log line from inside each role call (as a real client's warning would)."""

    def __init__(self) -> None:
        self._inner: LLMClient = build_clients(LLMConfig())["rules"]

    @property
    def provider(self) -> str:
        return self._inner.provider

    async def complete(self, request: LLMRequest) -> LLMReply:
        logging.getLogger("agents.llm.test").info("asked %s", request.role)
        return await self._inner.complete(request)


async def test_a_sessions_lines_carry_its_event_and_chain(make_pipeline: PipelineFactory) -> None:
    out = io.StringIO()
    configure_logging(LogConfig(format="json"), stream=out)
    pipeline = await make_pipeline({"rules": LoggingRules()})
    bar = bundled_bars()[SESSION_DAY]
    caused = {**signal("s-2", bar), "correlation_id": "s-root", "causation_id": "s-root"}
    await pipeline.submit(signal("s-1", bar, direction="long"))
    await pipeline.submit(caused)
    logging.getLogger("agents.llm.test").info("after the sessions")
    asked = [line for line in json_lines(out.getvalue()) if line["logger"] == "agents.llm.test"]
    ids = {(line["event_id"], line["correlation_id"]) for line in asked[:-1]}
    assert ids == {("s-1", "s-1"), ("s-2", "s-root")}, asked
    assert all(line["category"] == "agent" for line in asked)
    assert (asked[-1]["event_id"], asked[-1]["correlation_id"]) == (None, None), "unbound after the session"


async def test_every_committed_audit_entry_logs_one_line_and_a_rolled_back_one_none(
    make_pipeline: PipelineFactory,
) -> None:
    out = io.StringIO()
    pipeline = await make_pipeline()
    store = pipeline.services.store
    before = {entry["seq"] for entry in await store.audit_log(limit=1000)}
    configure_logging(LogConfig(format="json"), stream=out)
    await pipeline.halt(reason="drill", actor="alice")
    await pipeline.resume(reason="drill over", actor="alice")
    alert, _ = await pipeline.alerting.raise_alert(AlertLevel.WARNING, "drill", "a drill")
    await pipeline.alerting.acknowledge(alert.alert_id, by="bob")
    now = pipeline.services.clock.now()
    with pytest.raises(RuntimeError, match="fails after the audit insert"):
        await audit_then_fail(store, now)
    audited = [e for e in await store.audit_log(limit=1000) if e["seq"] not in before]
    lines = [line for line in json_lines(out.getvalue()) if line["category"] == "audit"]
    assert audited, "the controls audited"
    assert Counter((line["actor"], line["action"]) for line in lines) == Counter(
        (e["actor"], e["action"]) for e in audited
    )
    assert {line["actor"] for line in lines} >= {"alice", "bob"}
    assert all(line["logger"] == "aegis.audit" and line["message"].endswith(f"by {line['actor']}") for line in lines)
    assert "mallory" not in out.getvalue()


def test_the_command_line_configures_the_log_once_with_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "aegis.log"
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AEGIS_LOG__FORMAT", "json")
    monkeypatch.setenv("AEGIS_LOG__LEVEL", "info")
    monkeypatch.setenv("AEGIS_LOG__FILE", str(path))
    result = CliRunner().invoke(app, ["halt", "--reason", f"leaked key {KEY} in a paste", "--actor", "carol"])
    assert result.exit_code == 0, result.output
    lines = json_lines(path.read_text())
    halted = [line for line in lines if line["category"] == "audit" and line["actor"] == "carol"]
    assert [line["action"] for line in halted] == ["trading_state"]
    assert KEY not in path.read_text()


@pytest.mark.services
async def test_on_postgresql_too_an_audit_line_follows_the_commit_only(postgres_url: str, tmp_path: Path) -> None:
    out = io.StringIO()
    configure_logging(LogConfig(format="json"), stream=out)
    store = await open_store(postgres_url, tmp_path / "unused.sqlite", SimulatedClock(bundled_bars()[0].time))
    try:
        now = datetime.now(UTC)
        await store.audit("dave", "limits_tightened", {"max_positions": 3}, now)
        with pytest.raises(RuntimeError, match="fails after the audit insert"):
            await audit_then_fail(store, now)
    finally:
        await store.close()
    lines = [line for line in json_lines(out.getvalue()) if line["category"] == "audit"]
    assert [(line["actor"], line["action"], line["detail"]) for line in lines] == [
        ("dave", "limits_tightened", {"max_positions": 3})
    ]
