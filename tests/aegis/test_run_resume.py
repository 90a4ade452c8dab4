"""`aegis run` stopped, aborted or killed, then resumed: the summary always says what the records hold, and a
resumed run ends exactly as the same run made in one go.

The window (AAPL and MSFT, 2016-04-05..2016-08-03: 85 trading days, 60 of them warm-up) has orders, entry
fills and bracket exits. A run to interrupt is a subprocess: signalled while one of its sessions is held in
flight (a store method patched in that process), or killed at a chosen write, or from outside once the
records say it has decided a few days of events. Resumes run in this process, flat out.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from aegis.runtime.replay_job import PROGRESS_KEY
from aegis.runtime.run_record import RUN_FILE
from aegis.services import RECORDS_FILE

WINDOW = ["--symbols", "AAPL,MSFT", "--start", "2016-04-05", "--end", "2016-08-03"]
DAYS = 85
STARTING_CASH = 100_000.0
SLOW_CLOCK = ["--speed", "20"]  # about 4 s of replay: time to signal it mid-run
SIGNAL_AFTER_DAYS = 68  # the 60 warm-up days, then a week of deciding (events on 2016-07-01 and 07-08)


# ---- helpers -----------------------------------------------------------------------------------


def run_here(folder: Path | None, *options: str) -> tuple[int, str]:
    """`aegis run` over the window in this process, flat out; (exit code, output)."""
    where = ["--data-dir", str(folder)] if folder is not None else []
    result = CliRunner().invoke(app, ["run", *WINDOW, "--speed", "0", *where, *options])
    return result.exit_code, result.output


def comparable(output: str) -> list[str]:
    """The summary without what is this process's own: latencies, wall time, the folder."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("AEGIS run summary"))
    own = ("  stage latency", "    ", "  wall time", "  records")
    return [line for line in lines[start:] if not line.startswith(own)]


def summary_value(output: str, label: str) -> str:
    match = re.search(rf"^  {re.escape(label)}\s+(.+)$", output, re.MULTILINE)
    assert match is not None, f"no {label!r} line in:\n{output}"
    return match.group(1)


def recorded(folder: Path) -> dict[str, str]:
    """What the records in `folder` hold, read with SQL (not through the code under test), in the summary's
    wording: events, orders / fills, P&L at the last marks."""
    with sqlite3.connect(folder / RECORDS_FILE) as db:
        events = db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        orders = db.execute("SELECT COUNT(*) FROM decisions WHERE outcome = 'ordered'").fetchone()[0]
        fills = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        cash = db.execute("SELECT cash FROM account").fetchone()
        held = db.execute(
            "SELECT p.quantity * COALESCE(m.price, p.avg_price) FROM positions p LEFT JOIN marks m USING (symbol)"
        ).fetchall()
    equity = math.fsum([cash[0] if cash else STARTING_CASH, *(value for (value,) in held)])
    return {"events": str(events), "orders / fills": f"{orders} / {fills}", "P&L": f"{equity - STARTING_CASH:+,.2f}"}


def assert_summary_matches_records(output: str, folder: Path) -> None:
    for label, value in recorded(folder).items():
        shown = summary_value(output, label)
        assert shown.split("  ")[0].split(" (")[0] == value, f"{label}: summary {shown!r}, records {value!r}"


def days_decided(folder: Path) -> int:
    try:
        with sqlite3.connect(f"file:{folder / RECORDS_FILE}?mode=ro", uri=True) as db:
            row = db.execute("SELECT value FROM hot_values WHERE name = ?", (PROGRESS_KEY,)).fetchone()
    except sqlite3.Error:
        return 0  # not created yet
    return int(json.loads(row[0])) if row else 0


# `aegis run` with one store method of its process patched (`action:method:id`): "die" kills the process
# (SIGKILL) right after the method wrote the record `id` names (a fill id, or an event id); "stall<s>" holds
# the call for `s` seconds (60 by default) before it writes, saying "stalling" first.
_PATCHED_RUN = """
import asyncio, os, signal, sys
from state.store.sql_store import SqlStore

action, method, target = sys.argv.pop(1).split(":", 2)
original = getattr(SqlStore, method)


def names(record):
    return {getattr(record, "fill_id", None), getattr(record, "event_id", None)}


async def patched(self, record, *args, **kwargs):
    if action.startswith("stall") and target in names(record):
        print("stalling", flush=True)
        await asyncio.sleep(float(action.removeprefix("stall") or 60))
    done = await original(self, record, *args, **kwargs)
    if action == "die" and target in names(record):
        os.kill(os.getpid(), signal.SIGKILL)
    return done


setattr(SqlStore, method, patched)
from aegis.cli import main

sys.argv[0] = "aegis"
main()
"""


class Run:
    """`aegis run` over the window as its own process, its output read as it comes."""

    def __init__(self, folder: Path, cwd: Path, *options: str, patch: str | None = None) -> None:
        command = ["-m", "aegis"]
        if patch is not None:
            script = cwd / "patched_run.py"
            script.write_text(_PATCHED_RUN, encoding="utf-8")
            command = [str(script), patch]
        argv = [sys.executable, *command, "run", *WINDOW, *options, "--data-dir", str(folder)]
        self.folder = folder
        self.process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_line(self, text: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                pytest.fail(f"no line with {text!r} in {timeout_s:.0f} s:\n{''.join(self._seen)}")
            if line is None:
                pytest.fail(f"the run ended without a line with {text!r}:\n{''.join(self._seen)}")
            self._seen.append(line)
            if text in line:
                return

    def wait_for_days(self, days: int, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while days_decided(self.folder) < days:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"the run did not decide {days} days:\n{self.output()}")
            time.sleep(0.01)

    def output(self, timeout_s: float = 120.0) -> str:
        """Everything the process printed, once it has ended (checked: no traceback)."""
        self.process.wait(timeout=timeout_s)
        while (line := self._lines.get(timeout=timeout_s)) is not None:
            self._seen.append(line)
        text = "".join(self._seen)
        assert "Traceback" not in text, text
        return text


def resume_command(output: str) -> list[str]:
    match = re.search(r"^resume with: (.+)$", output, re.MULTILINE)
    assert match is not None, output
    command = shlex.split(match.group(1))
    assert command[:2] == ["aegis", "run"], command
    return command[1:]


def resume_here(folder: Path, command: list[str] | None = None) -> str:
    """Resume the run in `folder` in this process (with `command`, else the window flat out): its output,
    checked to open with the resuming line and to end with the run's complete summary."""
    result = CliRunner().invoke(app, command or ["run", *WINDOW, "--speed", "0", "--data-dir", str(folder)])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert re.fullmatch(
        rf"resuming the run in {re.escape(str(folder))}: \d+ of {DAYS} days decided; continuing from \d{{4}}-\d\d-\d\d",
        first,
    ), first
    assert "AEGIS run summary: " in result.output
    return result.output


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run reads its settings in the same empty folder (no config/*.yaml), with no AEGIS_* setting."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("AEGIS_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def in_one_go(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The window run uninterrupted: its folder and output."""
    folder = tmp_path_factory.mktemp("in-one-go") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder.parent)
        for name in [n for n in os.environ if n.startswith("AEGIS_")]:
            patch.delenv(name)
        code, output = run_here(folder)
    assert code == 0, output
    assert summary_value(output, "orders / fills") != "0 / 0", "the window should trade"
    return folder, output


# ---- the tests ---------------------------------------------------------------------------------


def test_an_uninterrupted_run_summarises_its_records(in_one_go: tuple[Path, str]) -> None:
    folder, output = in_one_go
    assert output.splitlines()[0].startswith("AEGIS replay of bundled real daily data")
    assert_summary_matches_records(output, folder)
    assert json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))["symbols"] == ["AAPL", "MSFT"]


# MSFT's golden cross of 2016-07-14 (day 71) is deliberated while the signal comes: it is decided and recorded.
STALLED = "MSFT-2016-07-14-golden_cross"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_after_the_day_and_the_rerun_resumes_to_the_same_summary(
    signum: signal.Signals, code: int, tmp_path: Path, in_one_go: tuple[Path, str]
) -> None:
    folder = tmp_path / "run"
    run = Run(folder, tmp_path, "--speed", "0", patch=f"stall3:finish_session:{STALLED}")
    run.wait_for_line("stalling")
    run.process.send_signal(signum)
    output = run.output()  # the stalled session goes on (3 s), saves its decision, then the run stops

    assert run.process.returncode == code, output
    assert f"{signum.name}: stopping after the current day (again to abort at once)" in output
    assert f"\nstopped after 2016-07-14 (day 71 of {DAYS})\n" in output
    assert days_decided(folder) == 71
    with sqlite3.connect(folder / RECORDS_FILE) as db:
        assert db.execute("SELECT outcome FROM decisions WHERE event_id = ?", (STALLED,)).fetchone() == ("ordered",)
    assert "AEGIS run summary so far: 2016-04-05 .. 2016-07-14 (71 of 85 trading days decided" in output
    assert_summary_matches_records(output, folder)
    command = resume_command(output)
    assert command == ["run", "--data-dir", str(folder), *WINDOW, "--speed", "0"]

    resumed = resume_here(folder, command)
    assert resumed.splitlines()[0] == (
        f"resuming the run in {folder}: 71 of {DAYS} days decided; continuing from 2016-07-15"
    )
    assert comparable(resumed) == comparable(in_one_go[1])
    assert_summary_matches_records(resumed, folder)


def test_a_second_interrupt_aborts_at_once_and_the_rerun_resumes_to_the_same_summary(
    tmp_path: Path, in_one_go: tuple[Path, str]
) -> None:
    folder = tmp_path / "run"
    run = Run(folder, tmp_path, "--speed", "0", patch=f"stall:finish_session:{STALLED}")
    run.wait_for_line("stalling")
    run.process.send_signal(signal.SIGINT)
    run.wait_for_line("SIGINT: stopping after the current day")
    asked = time.monotonic()
    run.process.send_signal(signal.SIGINT)
    output = run.output()

    assert run.process.returncode == 130, output
    assert time.monotonic() - asked < 30, "the stalled session should not be waited for"
    assert re.search(r"^aborted during the day after 2016-07-13 \(day 70 of 85 done\); resume with: aegis run ", output,
                     re.MULTILINE), output  # fmt: skip
    assert "AEGIS run summary" not in output
    with sqlite3.connect(folder / RECORDS_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM decisions WHERE event_id = ?", (STALLED,)).fetchone() == (0,)
    assert comparable(resume_here(folder)) == comparable(in_one_go[1])


@pytest.mark.parametrize(
    "die_after",
    [
        None,  # killed from outside, mid-run
        "die:book_fill:fill-MSFT-2016-07-14-golden_cross-entry",  # the fill booked; its mark, the day's bars not
        "die:save_order:AAPL-2016-07-25-golden_cross",  # the session's order saved; its decision not
    ],
)
def test_a_killed_run_resumes_to_the_same_summary(
    die_after: str | None, tmp_path: Path, in_one_go: tuple[Path, str]
) -> None:
    folder = tmp_path / "run"
    run = Run(folder, tmp_path, *SLOW_CLOCK, patch=die_after)
    if die_after is None:
        run.wait_for_days(SIGNAL_AFTER_DAYS)
        run.process.kill()
    output = run.output()
    assert run.process.returncode == -signal.SIGKILL, output

    resumed = resume_here(folder)
    expected = comparable(in_one_go[1])
    if die_after is not None and die_after.startswith("die:save_order:"):
        # Its session died between placing its order and saving its decision: on resume the event is settled by
        # the order it placed (the roles are not asked again beside a live order), so the same decision, the
        # same book, and one deliberation fewer on record.
        event = die_after.split(":", 2)[2]
        with sqlite3.connect(folder / RECORDS_FILE) as db:
            (record,) = db.execute("SELECT record FROM decisions WHERE event_id = ?", (event,)).fetchone()
        assert json.loads(record)["outcome"] == "ordered" and "earlier attempt" in json.loads(record)["reason"]
        deliberations = int(summary_value(in_one_go[1], "deliberations").split()[0])
        expected = [
            line.replace(f"deliberations        {deliberations} ", f"deliberations        {deliberations - 1} ")
            for line in expected
        ]
    assert comparable(resumed) == expected
    assert_summary_matches_records(resumed, folder)


def test_a_rerun_of_a_finished_run_prints_its_summary_again(tmp_path: Path, in_one_go: tuple[Path, str]) -> None:
    folder = tmp_path / "run"
    assert run_here(folder)[0] == 0
    code, output = run_here(folder)
    assert code == 0, output
    assert output.splitlines()[0] == f"resuming the run in {folder}: {DAYS} of {DAYS} days decided; " + (
        "every day is decided already"
    )
    assert comparable(output) == comparable(in_one_go[1])


@pytest.mark.parametrize(
    ("options", "environment", "says"),
    [
        (["--symbols", "AAPL"], {}, "holds a run with symbols AAPL,MSFT, not AAPL;"),
        (["--end", "2016-08-31"], {}, "holds a run with window 2016-04-05..2016-08-03, not 2016-04-05..2016-08-31;"),
        ([], {"AEGIS_STARTING_CASH": "50000"}, "holds a run with setting starting_cash was 100000.0, now 50000.0;"),
        ([], {"AEGIS_COSTS__FEE_BPS": "2"}, "holds a run with setting costs.fee_bps was 1.0, now 2.0;"),
    ],
)
def test_a_rerun_with_other_options_or_settings_is_refused_in_one_line(
    options: list[str],
    environment: dict[str, str],
    says: str,
    in_one_go: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _ = in_one_go
    before = (folder / RECORDS_FILE).stat().st_mtime_ns
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    arguments = ["run", *WINDOW, "--speed", "0", "--data-dir", str(folder)]
    for option, value in zip(options[::2], options[1::2], strict=True):
        arguments[arguments.index(option) + 1] = value
    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"aegis run: {folder} ") and says in lines[0], lines[0]
    assert lines[0].endswith(f"resume it with `aegis run --data-dir {folder} {' '.join(WINDOW)} --speed 0`, "
                             "or choose another --data-dir")  # fmt: skip
    assert (folder / RECORDS_FILE).stat().st_mtime_ns == before, "a refused rerun writes nothing"


def test_records_without_a_run_file_are_not_resumed(tmp_path: Path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / RECORDS_FILE).write_bytes(b"")
    code, output = run_here(folder)
    assert code == 2, output
    assert output.strip() == f"aegis run: {folder} holds records but no {RUN_FILE}: not a run of `aegis run` to " + (
        "resume; choose another --data-dir"
    )


def test_without_data_dir_a_run_goes_to_runs_under_aegis_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "elsewhere"))
    code, output = run_here(None)
    assert code == 0, output
    (folder,) = (tmp_path / "elsewhere" / "runs").iterdir()
    assert (folder / RECORDS_FILE).exists() and (folder / RUN_FILE).exists()
    assert f"records: {folder}" in output.splitlines()[0]
    assert not (tmp_path / "data").exists()

    monkeypatch.delenv("AEGIS_DATA_DIR")
    code, output = run_here(None)
    assert code == 0, output
    (default,) = (tmp_path / "data" / "runs").iterdir()
    assert (default / RECORDS_FILE).exists()
