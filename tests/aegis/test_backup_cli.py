"""`aegis backup` / `aegis restore` fail in one line that says what is wrong: a tool missing, a server down,
versions that do not match, a folder that is not a backup, a Redis still running. No password in any line.
(The full back-up-lose-restore drill on throwaway servers is tests/system/test_restore_drill.py.)"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aegis.cli import app
from aegis.recovery.archive import FORMAT, MANIFEST
from tests.production import postgres_url, redis_namespace  # noqa: F401  (fixtures)
from tests.services import require_service
from tests.throwaway import free_port


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AEGIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def _aegis(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _one_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.output


def _require(tool: str) -> None:
    require_service(tool, shutil.which(tool) is not None, f"{tool} is not on PATH")


def _fake_tool(folder: Path, name: str, version_line: str) -> None:
    """A stand-in client tool that only knows its version (what the version checks ask first)."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{version_line}'\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _backup_folder(tmp_path: Path, manifest: dict[str, object]) -> Path:
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"format": FORMAT, **manifest}), encoding="utf-8")
    return folder


def test_a_backup_with_no_server_configured_says_there_is_nothing_to_back_up(tmp_path: Path) -> None:
    line = _one_line(_aegis("backup", str(tmp_path / "b")))
    assert line.startswith("aegis backup: nothing to back up: neither AEGIS_POSTGRES_URL nor AEGIS_REDIS_URL")


def test_pg_dump_missing_is_one_line_saying_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("AEGIS_POSTGRES_URL", "postgresql://aegis@127.0.0.1:5432/aegis")
    line = _one_line(_aegis("backup", str(tmp_path / "b")))
    assert line == (
        "aegis backup: pg_dump not found on PATH: install the PostgreSQL client (Debian: postgresql-client) "
        "of the server's major version or newer\n"
    )


def test_a_server_that_is_down_is_named_without_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require("pg_dump")
    port = free_port()
    monkeypatch.setenv("AEGIS_POSTGRES_URL", f"postgresql://aegis:s3cret-pw@127.0.0.1:{port}/aegis")
    line = _one_line(_aegis("backup", str(tmp_path / "b")))
    assert line.startswith(f"aegis backup: cannot reach PostgreSQL at 127.0.0.1:{port}/aegis: ")
    assert "s3cret-pw" not in line
    assert not (tmp_path / "b" / MANIFEST).exists()


def test_a_pg_dump_older_than_the_server_is_refused_naming_both_versions(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,  # noqa: F811
) -> None:
    _fake_tool(tmp_path / "old-bin", "pg_dump", "pg_dump (PostgreSQL) 9.6.24")
    monkeypatch.setenv("PATH", str(tmp_path / "old-bin"))
    monkeypatch.setenv("AEGIS_POSTGRES_URL", postgres_url)
    line = _one_line(_aegis("backup", str(tmp_path / "b")))
    assert "aegis backup: pg_dump 9 cannot dump PostgreSQL " in line and "use a pg_dump of version" in line
    assert not list((tmp_path / "b").glob("postgres.dump*")), "no partial dump left behind"


def test_a_dump_from_a_newer_pg_dump_is_refused_before_the_database_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_tool(tmp_path / "bin", "pg_restore", "pg_restore (PostgreSQL) 15.20")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("AEGIS_POSTGRES_URL", f"postgresql://127.0.0.1:{free_port()}/aegis")  # never reached
    folder = _backup_folder(
        tmp_path, {"created_at": "2026-12-04T00:00:00+00:00", "redis_prefix": "aegis",
                   "postgres": {"server_major": 99, "pg_dump_major": 99}, "redis": None}
    )  # fmt: skip
    line = _one_line(_aegis("restore", str(folder), "--yes"))
    assert line == (
        "aegis restore: pg_restore 15 cannot read a dump written by pg_dump 99: "
        "use a pg_restore of version 99 or newer\n"
    )


def test_a_restore_needs_yes_and_a_complete_backup(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    assert "pass --yes to confirm" in _one_line(_aegis("restore", str(tmp_path / "half")))
    line = _one_line(_aegis("restore", str(tmp_path / "half"), "--yes"))
    assert (
        line == f"aegis restore: {tmp_path / 'half'} is not a complete backup: no {MANIFEST} (an interrupted backup?)\n"
    )


async def test_redis_files_are_not_restored_under_a_running_redis(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_namespace: tuple[str, str],  # noqa: F811
) -> None:
    url, _ = redis_namespace
    monkeypatch.setenv("AEGIS_REDIS_URL", url)
    folder = _backup_folder(
        tmp_path, {"created_at": "2026-12-04T00:00:00+00:00", "redis_prefix": "aegis", "postgres": None,
                   "redis": {"kind": "aof", "redis_version": "7.0.15"}}
    )  # fmt: skip
    target = tmp_path / "redis-data"
    line = _one_line(_aegis("restore", str(folder), "--yes", "--redis-dir", str(target)))
    assert line.startswith("aegis restore: Redis at 127.0.0.1:") and "is running: stop it before restoring" in line
    assert not target.exists(), "nothing was written"
    line = _one_line(_aegis("restore", str(folder), "--yes"))
    assert "name the stopped Redis's data folder with --redis-dir" in line
