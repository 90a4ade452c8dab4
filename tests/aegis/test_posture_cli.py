"""`aegis posture`: shown, overridden with an end, cleared; every refusal one line and exit 2."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app


async def _alert_kinds(data_dir: Path) -> list[str]:
    async with await Pipeline.open(Settings(data_dir=data_dir, checkpoints=False)) as pipeline:
        return [a.kind for a in await pipeline.services.store.alerts(limit=100)]


def _aegis(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "records")])
    return result.exit_code, result.output


@pytest.fixture
def records(tmp_path: Path) -> Path:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "records.sqlite").touch()  # a records folder: the store migrates it on open
    return tmp_path


def test_the_override_lifecycle_through_the_cli(records: Path) -> None:
    code, shown = _aegis(records, "posture")
    assert code == 0, shown
    assert shown.splitlines() == [
        "posture  defensive",
        "source   vix: no evaluation yet: VIX unknown: defensive by default",
        "changes  none recorded",
    ]
    before = datetime.now(UTC)
    code, set_out = _aegis(
        records, "posture", "set", "neutral", "--minutes", "90", "--reason", "calmer", "--actor", "ana"
    )
    assert code == 0, set_out
    lines = set_out.splitlines()
    assert lines[0] == "posture  guerrilla" and lines[1].startswith("source   override: override guerrilla by ana")
    until = datetime.fromisoformat(lines[2].removeprefix("until    "))
    assert before + timedelta(minutes=90) <= until <= datetime.now(UTC) + timedelta(minutes=90)

    code, shown = _aegis(records, "posture")
    assert (
        code == 0
        and "changes  last 1" in shown
        and f"guerrilla: override guerrilla by ana until {until.isoformat()}: calmer" in shown
    )

    code, cleared = _aegis(records, "posture", "clear", "--reason", "done", "--actor", "ana")
    assert code == 0 and cleared.splitlines()[0] == "posture  defensive"
    assert asyncio.run(_alert_kinds(records / "records")).count("posture_change") == 2  # set, cleared

    code, set_out = _aegis(records, "posture", "set", "offensive", "--until", "2100-01-01T12:00", "--reason", "x")
    assert code == 0 and "until    2100-01-01T12:00:00+00:00" in set_out  # a time without a zone is UTC


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "calm", "--reason", "x"], "unknown posture 'calm'"),
        (["set", "defensive", "--reason", "x", "--until", "2001-01-01T00:00"], "not after now"),
        (["set", "defensive", "--reason", "x", "--until", "tomorrow"], "not an ISO time: 'tomorrow'"),
        (["set", "defensive", "--reason", "x", "--minutes", "5", "--until", "2100-01-01"], "not both"),
        (["set", "defensive", "--reason", "x", "--minutes", "-5"], "positive number of minutes"),
        (["set", "defensive", "--reason", " "], "--reason must say why"),
        (["clear", "--reason", "x"], "no posture override is in force"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(records: Path, args: list[str], message: str) -> None:
    code, output = _aegis(records, "posture", *args)
    assert code == 2, output
    assert message in output and len(output.strip().splitlines()) == 1 and "Traceback" not in output
    code, shown = _aegis(records, "posture")
    assert code == 0 and "changes  none recorded" in shown  # nothing written
