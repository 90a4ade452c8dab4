"""Ordinary mistakes get one clear line and exit code 2, never a traceback (unless --debug asks for one);
a warning about a lasting condition (Redis down) is said once, then counted."""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aegis.cli import app
from aegis.cli.errors import explain
from state.clock import SimulatedClock
from state.events import Bar
from state.hot import HotStoreUnavailableError, InMemoryHotStore
from state.store.sqlite import SqliteStore
from state.tiered_hot import TieredHot
from tools.feeds.bundled import load_bundled_daily

BAD_SETTING = {"AEGIS_DELIBERATION__MIN_CONFIDENCE": "abc"}
BAD_SETTING_LINE = "setting AEGIS_DELIBERATION__MIN_CONFIDENCE: 'abc' is not a number"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AEGIS_DEBUG", raising=False)
    root = logging.getLogger()
    handlers = list(root.handlers)
    yield tmp_path / "data"
    for handler in set(root.handlers) - set(handlers):  # `aegis run` logs to a file in its data folder
        root.removeHandler(handler)
        handler.close()


def aegis(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, prog_name="aegis")


def assert_one_line(result: Result, *expected: str) -> str:
    """Exit code 2, exactly one line on stderr naming the problem, no traceback anywhere."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens on it once the socket is closed


# ---- bad options: what is wrong and what is available ------------------------------------------


def test_an_unknown_symbol_names_the_bundled_ones(tmp_path: Path) -> None:
    line = assert_one_line(aegis("run", "--symbols", "FOO", "--data-dir", str(tmp_path / "run")), "unknown symbol FOO")
    assert line.startswith("aegis run: ")
    assert "bundled symbols: " + ", ".join(load_bundled_daily().symbols) in line


def test_a_start_after_the_bundle_says_what_the_bundle_covers(tmp_path: Path) -> None:
    dates = load_bundled_daily().dates
    assert_one_line(
        aegis("run", "--start", "2030-01-01", "--data-dir", str(tmp_path / "run")),
        f"no trading days between 2030-01-01 and {dates[-1]}",
        f"the bundle covers {dates[0]}..{dates[-1]}",
    )


def test_a_start_after_the_end_is_refused(tmp_path: Path) -> None:
    assert_one_line(
        aegis("run", "--start", "2016-01-01", "--end", "2015-01-01", "--data-dir", str(tmp_path / "run")),
        "--start 2016-01-01 is after --end 2015-01-01",
    )


def test_a_window_too_short_to_warm_up_says_how_many_days_it_needs(tmp_path: Path) -> None:
    assert_one_line(
        aegis("run", "--start", "2017-08-01", "--data-dir", str(tmp_path / "run")), "a run needs more than 60"
    )


def test_a_missing_option_points_to_the_help() -> None:
    assert_one_line(aegis("halt"), "aegis halt: Missing option '--reason'", "(see 'aegis halt --help')")


# ---- the environment: servers, folders, settings -----------------------------------------------


def test_an_unreachable_postgresql_is_named_with_the_reason(tmp_path: Path) -> None:
    port = closed_port()
    result = aegis(
        "run", "--data-dir", str(tmp_path / "run"), env={"AEGIS_POSTGRES_URL": f"postgresql://127.0.0.1:{port}/x"}
    )
    line = assert_one_line(result, f"cannot reach PostgreSQL at 127.0.0.1:{port}/x")
    assert "refused" in line.lower()


def test_a_data_folder_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "somefile").write_text("not a folder")
    folder = tmp_path / "somefile" / "sub"
    assert_one_line(aegis("run", "--data-dir", str(folder)), f"cannot write to data folder {folder}: not a directory")


def test_a_read_only_data_folder_cannot_be_written(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a read-only mode does not stop writes")
        assert_one_line(aegis("run", "--data-dir", str(folder)), f"cannot write to data folder {folder}")
    finally:
        folder.chmod(0o700)


def test_a_full_disk_is_reported_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "full"
    mkdir = Path.mkdir

    def no_space(self: Path, *args: object, **kwargs: object) -> None:
        if self == folder or folder in self.parents:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", no_space)
    assert_one_line(
        aegis("run", "--data-dir", str(folder)),
        f"cannot write to data folder {folder}: no space left on device",
        "free some space",
    )


@pytest.mark.parametrize(
    "args",
    [("doctor",), ("run",), ("status",), ("migrate",), ("halt", "--reason", "drill"), ("alerts", "list")],
    ids=lambda args: " ".join(args),
)
def test_a_bad_setting_in_the_environment_is_named_by_its_variable(args: tuple[str, ...]) -> None:
    line = assert_one_line(aegis(*args, env=BAD_SETTING), BAD_SETTING_LINE)
    assert line.startswith(f"aegis {args[0]}: ")


def test_a_bad_choice_says_which_values_are_allowed() -> None:
    assert_one_line(
        aegis("status", env={"AEGIS_MODE": "moon"}), "setting AEGIS_MODE: 'moon' should be 'paper' or 'live'"
    )


@pytest.mark.parametrize("size", ["0", "101", "many"])
def test_a_bad_store_pool_size_is_one_line_naming_its_variable(size: str) -> None:
    assert_one_line(aegis("status", env={"AEGIS_POSTGRES_POOL_SIZE": size}), "setting AEGIS_POSTGRES_POOL_SIZE")


def test_an_unknown_failure_is_one_line_with_the_way_to_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("aegis.cli.doctor.run_doctor", broken)
    result = aegis("doctor")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "aegis doctor: unexpected RuntimeError: boom (run with --debug for the traceback)"
    ]


READ_ONLY = OSError(errno.EROFS, os.strerror(errno.EROFS), "data/x")
DENIED = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "data")
DENIED_ELSEWHERE = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "elsewhere/tape.jsonl")
REDIS_DOWN = HotStoreUnavailableError("redis hot store unavailable (ping): connection refused")


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (READ_ONLY, "cannot write to data folder data: read-only file system (data/x)"),
        (DENIED, "cannot write to data folder data: permission denied"),
        (DENIED_ELSEWHERE, "cannot use elsewhere/tape.jsonl: permission denied"),
        (REDIS_DOWN, f"{REDIS_DOWN}; is Redis running at AEGIS_REDIS_URL?"),
        (ExceptionGroup("sessions", [ValueError("the window has 3 trading days")]), "the window has 3 trading days"),
    ],
    ids=["read-only", "denied", "denied-elsewhere", "redis-down", "task-group"],
)
def test_expected_failures_by_type(error: Exception, line: str) -> None:
    assert explain(error, (Path("data"),)) == (line, 2)


# ---- --debug: the traceback, on request ----------------------------------------------------------


def test_with_debug_the_failure_propagates_unchanged() -> None:
    result = aegis("--debug", "doctor", env=BAD_SETTING)
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ValidationError"
    assert result.stderr == ""  # no one-liner: the traceback is the report


@pytest.mark.slow
@pytest.mark.parametrize("debug", ["--debug", "AEGIS_DEBUG=1"])
def test_the_installed_command_prints_a_traceback_only_with_debug(debug: str, tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "aegis"  # the [project.scripts] entry point
    if not command.exists():
        pytest.skip("the package is not installed in this interpreter's environment")
    env = {**os.environ, **BAD_SETTING, "AEGIS_DATA_DIR": str(tmp_path)}
    env.pop("AEGIS_DEBUG", None)
    plain = subprocess.run([command, "doctor"], env=env, capture_output=True, text=True, check=False)
    assert (plain.returncode, plain.stderr) == (2, f"aegis doctor: {BAD_SETTING_LINE}\n")
    args, extra = (["--debug"], {}) if debug == "--debug" else ([], {"AEGIS_DEBUG": "1"})
    loud = subprocess.run([command, *args, "doctor"], env={**env, **extra}, capture_output=True, text=True, check=False)
    assert loud.returncode == 1
    assert "Traceback" in loud.stderr and "ValidationError" in loud.stderr


# ---- Redis down: said once, then counted ---------------------------------------------------------

T0 = datetime(2016, 6, 1, 20, tzinfo=UTC)


class SwitchableHot(InMemoryHotStore):
    """In memory, but refusing writes while `down`."""

    down = True

    async def push_bar(self, symbol: str, bar: Bar) -> None:
        if self.down:
            raise HotStoreUnavailableError("redis hot store unavailable (push_bar): connection refused")
        await super().push_bar(symbol, bar)

    async def set_value(self, key: str, value: object, ttl_s: float | None = None) -> None:
        if self.down:
            raise HotStoreUnavailableError("redis hot store unavailable (set_value): connection refused")
        await super().set_value(key, value, ttl_s)


async def test_redis_down_is_warned_once_then_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="state.tiered_hot")
    now = [0.0]
    clock = SimulatedClock(T0)
    hot = SwitchableHot(clock)

    def said() -> list[str]:
        messages = [r.getMessage() for r in caplog.records if r.name == "state.tiered_hot"]
        caplog.clear()
        return messages

    async with SqliteStore(tmp_path / "records.db", clock=clock) as durable:
        store = TieredHot(hot, clock, mirror=durable, monotonic=lambda: now[0])
        for day in range(20):  # 20 trading days of 12 bars and the VIX, within 40 s
            now[0] = day * 2.0
            for symbol in ("AAPL", "MSFT", "XOM", "KO", "JPM", "BAC", "CVX", "PFE", "WMT", "JNJ", "AMZN", "GOOG"):
                price = 100.0 + day
                bar = Bar(time=T0 + timedelta(days=day), open=price, high=price, low=price, close=price, volume=1.0)
                await store.push_bar(symbol, bar)
            await store.set_value("market:vix", 15.0)
        first = said()
        assert len(first) == 1 and first[0].startswith("hot store unavailable, bar AAPL")

        now[0] = 61.0  # a minute on: one summary of the repeats
        await store.set_value("market:vix", 16.0)
        assert said() == [
            "hot store unavailable, writes kept in the durable copy only (repeated 260 times in the last 61 s); "
            "the last: hot store unavailable, market:vix kept in the durable copy only: "
            "redis hot store unavailable (set_value): connection refused"
        ]
        now[0] = 70.0
        for _ in range(5):
            await store.set_value("market:vix", 17.0)
        assert said() == []  # less than a minute since the summary

        hot.down = False  # Redis back: the repeats since the summary, then the news
        now[0] = 75.0
        await store.set_value("market:vix", 18.0)
        back = said()
        assert len(back) == 2
        assert "(repeated 5 times in the last 14 s)" in back[0]
        assert back[1] == "hot store available again"
        await store.set_value("market:vix", 19.0)
        assert said() == []

        hot.down = True  # down again: a new episode starts with its own first warning
        await store.set_value("market:vix", 20.0)
        assert said() == [
            "hot store unavailable, market:vix kept in the durable copy only: "
            "redis hot store unavailable (set_value): connection refused"
        ]


@pytest.mark.parametrize(
    ("value", "said"), [("0", "should be greater than or equal to 1"), ("abc", "is not a whole number")]
)
def test_a_bad_ticks_per_commit_is_one_line_before_any_tick_is_read(tmp_path: Path, value: str, said: str) -> None:
    tape = tmp_path / "tape.jsonl"
    tape.write_text("{}\n", encoding="utf-8")

    result = aegis("replay", str(tape), env={"AEGIS_REPLAY__TICKS_PER_COMMIT": value})

    assert_one_line(result, "aegis replay: setting AEGIS_REPLAY__TICKS_PER_COMMIT", f"'{value}' {said}")
