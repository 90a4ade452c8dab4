"""`aegis replay` and `Pipeline.replay` on tapes a new user really has: every line read on its own, a bad line
recorded with its line number and the real error, the run going on to the end; the clock following the
tape; nothing read at all is one line and exit 2."""

from __future__ import annotations

import ast
import io
import json
import re
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from aegis import Pipeline, Settings
from aegis.cli import app
from aegis.cli.replay import ReplayProgress, ReplayTally
from aegis.runtime.session import Delivery
from aegis.runtime.tape import LineOutcome, ReplayTimeConfig, tape_start
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.events import Bar
from tests.conftest import bundled_bars, signal
from tests.data.make_adversarial_tape import TAPE, adversarial_tape
from tools.feeds.tape import tick_event

RECORDS = "records.sqlite"


@pytest.fixture(scope="module")
def bars() -> list[Bar]:
    return bundled_bars()


def replay(tape: Path, data_dir: Path, *more: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["replay", str(tape), "--data-dir", str(data_dir), *more])
    return result.exit_code, result.output


def decisions_file(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def line(event: Any) -> bytes:
    return json.dumps(event, sort_keys=True).encode()


def warmed_tape(bars: list[Bar], *tail: bytes, first: bytes | None = None) -> bytes:
    """60 days of AAPL ticks (the first one replaced by `first` if given), then `tail`."""
    lines = [line(tick_event("AAPL", bar)) for bar in bars[:60]]
    if first is not None:
        lines.insert(0, first)
    return b"\n".join([*lines, *tail]) + b"\n"


# ---- the adversarial tape ------------------------------------------------------------------------


def test_the_checked_in_adversarial_tape_is_what_its_generator_writes(bars: list[Bar]) -> None:
    assert TAPE.read_bytes() == adversarial_tape(bars)


def test_an_adversarial_tape_replays_to_the_end_and_names_each_bad_line(tmp_path: Path) -> None:
    code, out = replay(TAPE, tmp_path / "data", "--decisions-out", str(tmp_path / "decisions.jsonl"))
    assert code == 0, out
    assert "Traceback" not in out and "unknown event type None" not in out

    for reason in (
        "line 65: JSON: Expecting ',' delimiter: column 121",
        "line 68: event sig-naive rejected: event_time: Input should have timezone info",
        "line 69: event sig-no-time rejected: event_time: Field required",
        "line 70: not a JSON object but an array",
        "line 72: event_time 2012-11-28T21:00:00+00:00 is 5 days before the previous accepted event's "
        "(2012-12-03T21:00:00+00:00, line 71); a tape runs forward (tolerance 5 s)",
        "line 77: event_time 2013-01-05T21:00:00+00:00 is 30 days after the previous accepted event's "
        "(2012-12-06T21:00:00+00:00, line 76); more than 7 days (replay.max_gap_s)",
        "line 80: the AAPL bar at 2012-12-07T21:00:00+00:00 is not after its previous one",
        "line 81: not valid UTF-8 at byte 86 (0xe9)",
    ):
        assert reason in out
    assert "rejected lines: 8 (recorded as dead letters), by reason:" in out
    for group in (
        r"not JSON \(line 65\)",
        r"invalid event: event_time: Input should have timezone info \(line 68\)",
        r"invalid event: event_time: Field required \(line 69\)",
        r"not a JSON object \(line 70\)",
        r"out of time order \(line 72\)",
        r"too far ahead in time \(line 77\)",
        r"tick not after its symbol's previous bar \(line 80\)",
        r"not valid UTF-8 \(line 81\)",
    ):
        assert re.search(rf"^ +1  {group}$", out, re.M), group
    assert re.search(r"^  conflicts: 1 \(line 67\): same id, other content, rejected", out, re.M)
    assert "line 67: conflict: event id sig-b was first recorded with other content" in out
    assert "redelivered: 1 (line 66): same id and content, the first decision returned" in out
    assert "blank lines skipped: 1 (line 61)" in out and "UTF-8 byte-order marks dropped (line 1)" in out

    decided = decisions_file(tmp_path / "decisions.jsonl")
    assert len(decided) == 17  # every line but the 63 ticks applied and the blank one
    outcome: dict[str, str] = {}
    for d in decided:
        outcome.setdefault(d["event_id"], d["outcome"])  # the first line of each id
    for good in ("sig-a", "sig-b", "sig-d", "sig-e"):
        assert outcome[good] not in {"rejected", "screened_out"}, good  # deliberated
    assert [outcome[f"news-{n}"] for n in (1, 2, 3)] == ["screened_out"] * 3  # not "in the future"
    assert outcome["news-jump"] == "rejected"
    conflict = next(d for d in decided[1:] if d["event_id"] == "sig-b" and d["outcome"] == "rejected")
    assert conflict["reason"].startswith("conflict:")

    # the summary counts each event once: the redelivered sig-a and the conflicting sig-b apart
    counted = Counter(d["outcome"] for d in decided)
    counted[outcome["sig-a"]] -= 1
    counted["rejected"] -= 1
    printed = re.search(r"81 lines, 15 events decided (\{.*\}), 63 ticks applied", out)
    assert printed is not None and ast.literal_eval(printed.group(1)) == {k: n for k, n in counted.items() if n}

    with sqlite3.connect(tmp_path / "data" / RECORDS) as db:
        dead = db.execute("SELECT errors FROM rejected_events ORDER BY seq").fetchall()
        conflicts = db.execute("SELECT event_id, first_hash, new_hash, raw FROM event_conflicts").fetchall()
    fields = [json.loads(errors)[0]["field"] for (errors,) in dead]
    assert fields == ["line 65", "event_time", "event_time", "line 70", "line 72", "line 77", "line 80", "line 81"]
    assert all("unknown event type" not in errors for (errors,) in dead)
    [(event_id, first_hash, new_hash, raw)] = conflicts
    assert event_id == "sig-b" and first_hash != new_hash and json.loads(raw)["payload"]["strength"] == 0.9


async def test_the_python_api_accounts_for_every_line_and_takes_a_str_path(tmp_path: Path) -> None:
    outcomes: list[LineOutcome] = []
    clock = SimulatedClock(tape_start(TAPE))
    async with await Pipeline.open(Settings(data_dir=tmp_path), clock=clock) as pipeline:
        decisions = await pipeline.replay(str(TAPE), on_line=outcomes.append)
    assert sorted(o.line for o in outcomes) == list(range(1, 82))
    assert [o.decision for o in outcomes if o.decision is not None] == decisions
    by_line = {o.line: o for o in outcomes}
    assert by_line[66].delivery is Delivery.REDELIVERED and by_line[66].rejected is None
    assert by_line[67].delivery is Delivery.CONFLICT and by_line[67].rejected is None
    assert by_line[61].blank and by_line[1].byte_order_mark and by_line[1].decision is None
    assert clock.now() == bundled_bars()[65].time  # the clock followed the tape, not the 30-day jump


# ---- nothing to read: one line, exit 2, nothing recorded ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty: nothing to replay"),
        (b"\n \n\r\n", "is empty: nothing to replay"),
        (bytes(range(256)) * 40, "none of its 41 lines is a valid event (40 not valid UTF-8, 1 not JSON; line 1: JSON"),
    ],
    ids=["empty", "blank lines only", "binary"],
)
def test_a_tape_with_nothing_to_read_is_one_line_and_exit_2(tmp_path: Path, content: bytes, message: str) -> None:
    tape = tmp_path / "tape.jsonl"
    tape.write_bytes(content)
    code, out = replay(tape, tmp_path / "data", "--decisions-out", str(tmp_path / "decisions.jsonl"))
    assert code == 2
    assert out.startswith("aegis replay: ") and out.count("\n") == 1 and message in out
    assert not (tmp_path / "data").exists() and not (tmp_path / "decisions.jsonl").exists()


def test_a_missing_tape_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out = replay(tmp_path / "nope.jsonl", tmp_path / "data")
    assert code == 2 and out.count("\n") == 1 and "does not exist" in out and "Traceback" not in out


# ---- a bad first line no longer decides where the replay starts ------------------------------------


@pytest.mark.parametrize(
    ("first", "reported"),
    [
        (b"", "blank lines skipped: 1 (line 1)"),
        (b"\xef\xbb\xbf", "UTF-8 byte-order marks dropped (line 1)"),
        (b'{"id": "x", "type": "NEWS", "event_ti', "line 1: JSON: Unterminated string starting at: column 29"),
        (b'{"id": "naive", "type": "NEWS", "source": "s", "event_time": "2012-09-04T20:00:00", "payload": '
         b'{"headline": "h"}}', "line 1: event naive rejected: event_time: Input should have timezone info"),
        (b'{"id": "timeless", "type": "NEWS", "source": "s", "payload": {"headline": "h"}}',
         "line 1: event timeless rejected: event_time: Field required"),
        (b"\xe9t\xe9", "line 1: not valid UTF-8 at byte 1 (0xe9)"),
    ],
    ids=["blank", "byte-order mark", "truncated", "no time zone", "no event_time", "latin-1"],
)  # fmt: skip
def test_a_bad_first_line_is_reported_and_the_replay_starts_at_the_first_valid_event(
    tmp_path: Path, bars: list[Bar], first: bytes, reported: str
) -> None:
    if first == b"\xef\xbb\xbf":
        first += line(tick_event("AAPL", bars[0]))
    tape = tmp_path / "tape.jsonl"
    tape.write_bytes(warmed_tape(bars, line(signal("sig", bars[59])), first=first))
    code, out = replay(tape, tmp_path / "data", "--decisions-out", str(tmp_path / "decisions.jsonl"))
    assert code == 0, out
    assert reported in out
    assert decisions_file(tmp_path / "decisions.jsonl")[-1]["event_id"] == "sig"


def test_an_interrupted_replay_leaves_the_decisions_it_made(
    tmp_path: Path, bars: list[Bar], monkeypatch: pytest.MonkeyPatch
) -> None:
    signals = [line(signal(f"sig-{n}", bar)) for n, bar in enumerate(bars[60:64])]
    tape = tmp_path / "tape.jsonl"
    tape.write_bytes(
        warmed_tape(bars, *(b for n, s in enumerate(signals) for b in (line(tick_event("AAPL", bars[60 + n])), s)))
    )
    submit_wave = Pipeline._submit_wave
    waves = 0

    async def dies_at_the_third_wave(self: Pipeline, *args: Any) -> Any:
        nonlocal waves
        waves += 1
        if waves == 3:
            raise RuntimeError("the machine went down")
        return await submit_wave(self, *args)

    monkeypatch.setattr(Pipeline, "_submit_wave", dies_at_the_third_wave)
    code, out = replay(tape, tmp_path / "data", "--decisions-out", str(tmp_path / "decisions.jsonl"))
    assert code != 0 and "the machine went down" in out
    assert [d["event_id"] for d in decisions_file(tmp_path / "decisions.jsonl")] == ["sig-0", "sig-1"]


# ---- the clock follows the tape; its limits are settings -------------------------------------------


async def test_news_on_consecutive_days_moves_the_clock_and_is_not_in_the_future(
    tmp_path: Path, bars: list[Bar]
) -> None:
    news = [
        {"id": f"news-{n}", "type": "NEWS", "source": "wire", "event_time": bar.time.isoformat(),
         "payload": {"headline": f"day {n}"}}
        for n, bar in enumerate(bars[:5])
    ]  # fmt: skip
    tape = tmp_path / "news.jsonl"
    tape.write_bytes(b"\n".join(line(n) for n in news))
    clock = SimulatedClock(tape_start(tape))
    async with await Pipeline.open(Settings(data_dir=tmp_path / "data"), clock=clock) as pipeline:
        decisions = await pipeline.replay(tape)
    assert [d.outcome for d in decisions] == [Outcome.SCREENED_OUT] * 5
    assert clock.now() == bars[4].time


async def test_the_time_limits_are_settings(tmp_path: Path, bars: list[Bar], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_REPLAY__MAX_GAP_S", "3600")
    assert Settings().replay == ReplayTimeConfig(max_gap_s=3600)
    assert ReplayTimeConfig() == ReplayTimeConfig(max_gap_s=7 * 86_400, back_tolerance_s=5)

    outcomes: list[LineOutcome] = []
    widened = Settings(data_dir=tmp_path, replay=ReplayTimeConfig(max_gap_s=40 * 86_400))
    async with await Pipeline.open(widened, clock=SimulatedClock(tape_start(TAPE))) as pipeline:
        await pipeline.replay(TAPE, on_line=outcomes.append)
    by_line = {o.line: o for o in outcomes}
    assert by_line[77].rejected is None  # the 30-day jump is accepted now...
    assert by_line[78].rejected == "out of time order"  # ...and the rest of the tape is behind it
    assert by_line[79].rejected == "out of time order"


def test_the_tape_clock_tolerates_a_small_step_back(tmp_path: Path, bars: list[Bar]) -> None:
    slightly_earlier = signal("sig-early", bars[59])
    slightly_earlier["event_time"] = (bars[59].time - timedelta(seconds=3)).isoformat()
    tape = tmp_path / "tape.jsonl"
    tape.write_bytes(warmed_tape(bars, line(slightly_earlier)))
    code, out = replay(tape, tmp_path / "data", "--decisions-out", str(tmp_path / "decisions.jsonl"))
    assert code == 0 and "rejected lines: 0" in out
    assert decisions_file(tmp_path / "decisions.jsonl")[0]["outcome"] != "rejected"


# ---- progress -------------------------------------------------------------------------------------


def test_progress_is_a_line_every_n_lines_off_a_terminal_and_a_bar_on_one() -> None:
    plain = io.StringIO()
    tally = ReplayTally()
    with ReplayProgress(Console(file=plain, force_terminal=False), total=25, every=10) as progress:
        for n in range(1, 26):
            tally.add(LineOutcome(n))
            progress.update(n, tally)
    assert plain.getvalue().splitlines() == ["line 10/25: 0 decided, 0 rejected", "line 20/25: 0 decided, 0 rejected"]

    terminal = io.StringIO()
    with ReplayProgress(Console(file=terminal, force_terminal=True), total=25, every=10) as progress:
        progress.update(25, tally)
    assert "line 10/25" not in terminal.getvalue()


def test_an_unreadable_bots_file_beside_the_tape_is_one_line(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    tape.write_text(
        '{"id":"n1","type":"NEWS","source":"t","event_time":"2017-09-01T20:00:00+00:00","payload":{"headline":"h"}}\n',
        encoding="utf-8",
    )
    (tmp_path / "tape.jsonl.bots.json").write_text('[{"bot_id": "x"}]', encoding="utf-8")
    result = CliRunner().invoke(app, ["replay", str(tape), "--data-dir", str(tmp_path / "records")])
    assert result.exit_code == 2
    assert "tape.jsonl.bots.json: not a list of bots" in result.output
    assert "Traceback" not in result.output
