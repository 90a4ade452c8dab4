"""`aegis feed --source ...`: the live sources from the command line (tape stays the default)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner
from websockets.asyncio.server import ServerConnection, serve

from aegis.cli import app
from tests.production import redis_namespace

__all__ = ["redis_namespace"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--source", "websocket", "--url", "ws://127.0.0.1:9/"], "--source websocket needs --url and --symbols"),
        (["--source", "news"], "--source news needs at least one --feed-url"),
        (["--source", "calendar"], "--source calendar needs --calendar FILE (.csv or .ics)"),
        ([], "give a tape (or --source websocket|calendar|news)"),
        (["--source", "news", __file__], "a tape is played with --source tape, not --source news"),
    ],
)
def test_a_missing_option_is_one_line(
    args: list[str], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AEGIS_REDIS_URL", "redis://127.0.0.1:9/0")  # never reached: the options fail first
    result = CliRunner().invoke(app, ["feed", *args])
    assert result.exit_code == 2
    assert line in result.output and "Traceback" not in result.output


async def test_the_calendar_announces_a_release_through_the_bus(
    redis_namespace: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = redis_namespace
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AEGIS_REDIS_URL", url)
    monkeypatch.setenv("AEGIS_REDIS_PREFIX", prefix)
    calendar = tmp_path / "today.csv"
    just_now = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    calendar.write_text(f"time,indicator,actual,forecast,previous\n{just_now},CPI,3.4,3.1,3.0\n", encoding="utf-8")
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["feed", "--source", "calendar", "--calendar", str(calendar)]
    )
    assert result.exit_code == 0, result.output
    assert "calendar: 1 events, 0 dead letters, 0 disconnects" in result.output


async def test_the_websocket_feed_applies_bars_then_exits_one_line_when_it_gives_up(
    redis_namespace: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = redis_namespace
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AEGIS_REDIS_URL", url)
    monkeypatch.setenv("AEGIS_REDIS_PREFIX", prefix)
    monkeypatch.setenv("AEGIS_FEEDS__MAX_RECONNECTS", "0")  # the first loss is the last
    now = datetime.now(UTC).replace(microsecond=0)
    bars = [
        {"type": "bar", "symbol": "AAPL", "time": (now - timedelta(seconds=s)).isoformat(), "open": 190.0,
         "high": 191.0, "low": 189.5, "close": 190.5, "volume": 1200.0}
        for s in (2, 1)
    ]  # fmt: skip

    async def stream(connection: ServerConnection) -> None:
        await connection.recv()  # the subscription
        for bar in bars:
            await connection.send(json.dumps(bar))
        await connection.send("garbage")
        await connection.close()

    async with serve(stream, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["feed", "--source", "websocket", "--url", f"ws://127.0.0.1:{port}/", "--symbols", "AAPL"],
        )
    assert result.exit_code == 1
    assert "websocket: 2 events, 1 dead letters, 1 disconnects" in result.output
    assert (
        "feed stopped: websocket: gave up after 0 reconnects without data (last: closed by the server (code 1000))"
        in (result.output)
    )
