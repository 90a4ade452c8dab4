"""`aegis health` (one check: a table or JSON, exit 1 when not ready) and `aegis worker` recycled past its memory
limit (exit 75, its last heartbeat says stopped)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from aegis.cli import app
from aegis.runtime.health_monitor import RECYCLE_EXIT_CODE
from aegis.runtime.worker_heartbeat import read_heartbeats
from state.store.sqlite import SqliteStore


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 5.0)  # the machine's load is not under test
    monkeypatch.setenv("AEGIS_HEALTH__SYSTEM_MEMORY_DEGRADED_PCT", "100")
    monkeypatch.setenv("AEGIS_HEALTH__DISK_FREE_DEGRADED_PCT", "0")
    monkeypatch.setenv("AEGIS_HEALTH__DISK_FREE_DOWN_PCT", "0")
    return tmp_path / "data"


def test_health_prints_each_component_and_exits_0_when_ready(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["health"])
    assert result.exit_code == 0, result.output
    for component in ("postgres", "redis", "bus", "workers", "memory", "disk"):
        assert component in result.output
    assert "overall: ok; ready" in result.output


def test_health_json_and_a_required_component_down_exits_1(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_HEALTH__DISK_FREE_DEGRADED_PCT", "100")
    monkeypatch.setenv("AEGIS_HEALTH__DISK_FREE_DOWN_PCT", "100")  # every disk is "full" now
    result = CliRunner().invoke(app, ["health", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ready"] is False and report["status"] == "down"
    disk = next(c for c in report["components"] if c["component"] == "disk")
    assert disk["status"] == "down" and disk["required"] is True


def test_health_with_an_unreachable_postgres_is_one_line_and_exit_2(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEGIS_POSTGRES_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    result = CliRunner().invoke(app, ["health"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.services
def test_a_worker_past_its_memory_limit_exits_75(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, redis_namespace: tuple[str, str]
) -> None:
    url, prefix = redis_namespace
    monkeypatch.setenv("AEGIS_REDIS_URL", url)
    monkeypatch.setenv("AEGIS_REDIS_PREFIX", prefix)
    monkeypatch.setenv("AEGIS_HEALTH__MEMORY_LIMIT_MB", "1")
    result = CliRunner().invoke(app, ["worker", "--name", "w-big"])  # no --until-idle: only the recycle ends it
    assert result.exit_code == RECYCLE_EXIT_CODE, result.output
    assert "recycled past its memory limit; exit 75" in result.output

    async def last_beat() -> bool:
        async with SqliteStore(data_dir / "records.sqlite") as store:
            ((beat, _),) = await read_heartbeats(store)
            return beat.worker == "w-big" and beat.stopped

    assert asyncio.run(last_beat())
