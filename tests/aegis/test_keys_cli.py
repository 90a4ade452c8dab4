"""`aegis keys`: a key is printed once and works; the listing and the audit log never hold it; a revoked key
stops authenticating; bad input is one line and exit 2."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app
from state.clock import WallClock
from tools.ops.api_keys import KeyControl

KEY = re.compile(r"aegis_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _aegis(records: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(records)])
    return result.exit_code, result.output


async def _check(records: Path, key: str) -> tuple[bool, list[dict[str, object]]]:
    async with await Pipeline.open(Settings(data_dir=records, checkpoints=False)) as pipeline:
        keys = KeyControl(pipeline.services.store, WallClock(), cache_s=0.0)
        audit = [e for e in await pipeline.services.store.audit_log(100) if str(e["action"]).startswith("api_key.")]
        return await keys.authenticate(key) is not None, audit


def test_a_key_is_shown_once_works_and_is_revoked(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "records.sqlite").touch()
    code, out = _aegis(records, "keys", "create", "grafana", "--role", "read", "--actor", "ops-lead")
    assert code == 0, out
    key = KEY.search(out)
    assert key is not None
    key_id = key.group(0)[6:18]
    works, audit = asyncio.run(_check(records, key.group(0)))
    assert works
    assert audit[0]["actor"] == "ops-lead"  # newest first
    assert key.group(0) not in str(audit)

    code, listing = _aegis(records, "keys", "list")
    assert code == 0
    assert key_id in listing and "grafana" in listing and "active" in listing
    assert key.group(0) not in listing

    code, out = _aegis(records, "keys", "revoke", key_id, "--reason", "rotated", "--actor", "ops-lead")
    assert code == 0, out
    works, audit = asyncio.run(_check(records, key.group(0)))
    assert not works
    assert [e["action"] for e in audit] == ["api_key.revoke", "api_key.create"]
    assert "revoked" in _aegis(records, "keys", "list")[1]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "records.sqlite").touch()
    code, out = _aegis(records, "keys", "create", "x", "--role", "root")
    assert code == 2 and "root" in out
    code, out = _aegis(records, "keys", "revoke", "0123456789ab", "--reason", "gone")
    assert code == 2
    assert "no api key 0123456789ab" in out
    assert "Traceback" not in out
