"""`aegis rules`: the default rules listed, a rule added from YAML, changed, disabled; bad input one line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aegis.cli import app

BURST = """\
rule_id: burst-stops-bot
description: a bot trading in bursts stops
event_type: ANOMALY_DETECTED
priority: 850
conditions:
  - {field: payload.rule, op: "==", value: trade_burst}
actions:
  - {kind: stop_bot}
  - {kind: alert, params: {level: warning}}
"""


def _aegis(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "records")])
    return result.exit_code, result.output


def test_the_rules_lifecycle_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "records.sqlite").touch()  # a records folder: the store migrates it on open
    code, listed = _aegis(tmp_path, "rules", "list")
    assert code == 0, listed
    ids = [line.split()[0] for line in listed.splitlines()]
    assert ids == [
        "anomaly-high-stops-bot", "bot-api-errors-stop-bot", "market-anomaly-blocks-symbol",
        "daily-loss-stops-losing-bots", "health-broker-down-reduces", "health-down-alerts",
        "rebalance-below-5pct-skips", "health-degraded-warns", "signal-low-strength-proceeds",
    ]  # fmt: skip
    assert "when BOT_STATUS: payload.error_rate >= 0.3 then stop_bot, alert(level=critical)" in listed

    rule = tmp_path / "burst.yaml"
    rule.write_text(BURST, encoding="utf-8")
    code, added = _aegis(tmp_path, "rules", "add", str(rule), "--reason", "bursts", "--actor", "ana")
    assert code == 0 and "added burst-stops-bot v1 [enabled, priority 850]" in added
    code, changed = _aegis(tmp_path, "rules", "set", "burst-stops-bot", "--priority", "950", "--reason", "first")
    assert code == 0 and "burst-stops-bot v2 [enabled, priority 950]" in changed
    code, disabled = _aegis(tmp_path, "rules", "disable", "burst-stops-bot", "--reason", "review")
    assert code == 0 and "burst-stops-bot v3 [DISABLED" in disabled
    code, shown = _aegis(tmp_path, "rules", "show", "burst-stops-bot")
    assert code == 0 and [line.split()[0] for line in shown.splitlines() if line.startswith("v")] == ["v1", "v2", "v3"]

    bad = tmp_path / "bad.yaml"
    bad.write_text(BURST.replace("stop_bot", "launch_rockets").replace("burst-stops-bot", "other"), encoding="utf-8")
    code, refused = _aegis(tmp_path, "rules", "add", str(bad), "--reason", "x")
    assert code == 2 and "actions.0.kind" in refused and len(refused.strip().splitlines()) == 1
    code, unknown = _aegis(tmp_path, "rules", "disable", "nope", "--reason", "x")
    assert code == 2 and "no rule 'nope'" in unknown
    code, nothing = _aegis(tmp_path, "rules", "set", "burst-stops-bot", "--reason", "x")
    assert code == 2 and "nothing to change" in nothing
