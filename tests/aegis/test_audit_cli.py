"""`aegis audit verify` and `aegis audit export` on a store written by the pipeline's paths, and the README's
third-party snippet run on the export."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from state.clock import SimulatedClock
from state.store.sqlite import SqliteStore
from tests.state.test_record_chain import _write_a_day
from tests.state.test_store_contract import T0

README = Path(__file__).parents[2] / "README.md"


def _records(folder: Path) -> None:
    """The records of a day written through the store's paths (the commands run their own event loop)."""
    folder.mkdir()

    async def write() -> None:
        async with SqliteStore(folder / "records.sqlite", clock=SimulatedClock(T0)) as store:
            await store.open()
            await _write_a_day(store)

    asyncio.run(write())


def _snippet() -> str:
    section = README.read_text(encoding="utf-8").split("### The tamper-evident record", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


def _audit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args])
    return result.exit_code, result.output


def test_verify_passes_then_names_the_altered_row(tmp_path: Path) -> None:
    _records(tmp_path / "records")
    code, output = _audit("verify", "--data-dir", str(tmp_path / "records"))
    assert code == 0 and "fills: 1 rows checked, ok" in output and "MISMATCH" not in output
    with sqlite3.connect(tmp_path / "records" / "records.sqlite") as conn:
        conn.execute("UPDATE fills SET reason = 'exit' WHERE fill_id = 'fill-e1-entry'")
    code, output = _audit("verify", "--data-dir", str(tmp_path / "records"))
    assert code == 1
    assert 'fills: 0 rows checked, then MISMATCH: fills: row ["fill-e1-entry"] at seq 1: row altered' in output


def test_the_readme_snippet_verifies_an_export_and_catches_an_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _records(tmp_path / "records")
    out = tmp_path / "chain.jsonl"
    code, output = _audit("export", "--out", str(out), "--data-dir", str(tmp_path / "records"))
    assert code == 0 and "links written" in output
    monkeypatch.chdir(tmp_path)
    exec(compile(_snippet(), "README snippet", "exec"), {})  # raises on any mismatch
    out.write_text(out.read_text(encoding="utf-8").replace("analyst saw no edge", "analyst saw an edge"))
    with pytest.raises(AssertionError, match="altered: decisions"):
        exec(compile(_snippet(), "README snippet", "exec"), {})


def test_export_into_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, output = _audit("export", "--out", str(tmp_path / "nowhere" / "chain.jsonl"))
    assert code == 2 and "is not a folder" in output


def test_verify_reads_only_even_in_live_mode_without_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A verification starts no system: mode live (which would refuse to start) does not stop it, and it writes
    # nothing to the records it checks.
    monkeypatch.setenv("AEGIS_MODE", "live")
    _records(tmp_path / "records")
    database = tmp_path / "records" / "records.sqlite"

    def counts() -> list[int]:
        with sqlite3.connect(database) as conn:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return [conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in sorted(tables)]

    before = counts()
    code, output = _audit("verify", "--data-dir", str(tmp_path / "records"))
    assert code == 0 and "MISMATCH" not in output, output
    assert counts() == before
