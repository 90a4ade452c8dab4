"""Benchmark: embedded replay of tick-only tapes, its throughput against a floor, and its memory over long tapes.

    python -m evals.bench_ticks [--ticks N] [--repeats 3] [--memory-lines 1000000] [--long] [--no-memory]

The tapes are the bundled daily bars as MARKET_TICK lines (`evals.tick_tape`: twelve stocks and the VIX, one pass
is 16,354 lines; longer tapes repeat the pass with dates shifted by whole weeks, real prices), written to a
temporary file and streamed. "Embedded": `Pipeline.replay` with no PostgreSQL or Redis, the SQLite records and
the in-process hot store, on a simulated clock from the tape's start, as `aegis replay TAPE` runs it.

(a) Throughput: the replay of `--ticks` lines (default one pass), timed from the first line to the last (the
    pipeline already open); a tape holds no signal, so no session is counted (the table says how many events
    were decided: 0). The floor, measured in the same run and interleaved with it: the same tape read and
    decoded line by line (`json.loads`), its bars written to a fresh records file of the same schema and
    settings (WAL, synchronous=FULL) with `sqlite3.executemany` in batches of the replay's
    `ticks_per_commit`, one transaction each, and appended to per-symbol windows (`collections.deque`) of the
    hot store's length: the writes a tick needs, issued directly through the client library.
(a2) The same on the minute tape (`evals.tick_tape.minute_lines`: the bundled one-minute SPY bars, as many
    lines): one symbol, so every tick moves the feed's clock and pays each moment's checks (the risk monitor's
    tick, the posture watch, the approvals sweep, the limits copy), where a daily tape pays a trading day's
    bookkeeping (the day's close and report, the posture evaluation) once per thirteen ticks.
(b) Memory: a child process replays a `--memory-lines` tape (default 1,000,000) and samples its RSS (psutil)
    every 1/40 of the tape; the table gives the maximum and the curve. `--long` adds the 10x tape, whose
    maximum must not exceed the 1x one's (flat: within 5 %, the noise of two runs of one tape).

Prints the figures, the targets (20,000 ticks/s; RSS under 300 MB, flat at 10x) and met/missed; asserts
nothing. Figures drift 20-40 % on a loaded machine: compare the subject with the floor of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

from aegis import Pipeline, Settings
from aegis.runtime.tape import LineOutcome, tape_start
from evals.tick_tape import pass_lines, write_minute_tape, write_tick_tape
from state.clock import SimulatedClock
from state.store.sqlite import SqliteStore

TARGET_TICKS_S = 20_000.0
TARGET_RSS_MB = 300.0
FLAT_TOLERANCE = 1.05  # the 10x tape's maximum RSS over the 1x one's, at most
SAMPLES = 40  # RSS samples over a memory run


@dataclass(frozen=True)
class Replayed:
    lines: int
    ticks: int
    decided: int
    seconds: float
    cpu_seconds: float  # of this process, all its threads

    @property
    def rate(self) -> float:
        return self.ticks / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per tick: what a loaded machine changes least."""
        return self.cpu_seconds / self.ticks * 1e6 if self.ticks else 0.0


async def replay_ticks(tape: Path, folder: Path, every: int = 0) -> tuple[Replayed, list[tuple[int, float]]]:
    """Replay `tape` embedded in `folder`; with `every`, RSS samples (line, MB) every `every` lines."""
    settings = Settings(data_dir=folder, postgres_url=None, redis_url=None)
    process = psutil.Process()
    samples: list[tuple[int, float]] = []
    counts = {"lines": 0, "ticks": 0, "decided": 0}

    def on_line(outcome: LineOutcome) -> None:
        counts["lines"] += 1
        if outcome.decision is not None:
            counts["decided"] += 1
        elif not outcome.blank:
            counts["ticks"] += 1
        if every and counts["lines"] % every == 0:
            samples.append((counts["lines"], process.memory_info().rss / 2**20))

    async with await Pipeline.open(settings, clock=SimulatedClock(tape_start(tape))) as pipeline:
        if every:
            samples.append((0, process.memory_info().rss / 2**20))
        started, cpu = time.perf_counter(), time.process_time()
        await pipeline.replay(tape, on_line=on_line)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Replayed(counts["lines"], counts["ticks"], counts["decided"], seconds, cpu), samples


async def floor_writes(tape: Path, folder: Path, batch: int, window: int) -> Replayed:
    """The same tape's bars into a records file and per-symbol windows, directly (see the module's notes)."""
    path = folder / "records.sqlite"
    async with SqliteStore(path):  # the schema, as the replay's store has it
        pass
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    windows: dict[str, deque[dict[str, object]]] = {}
    insert = "INSERT INTO market_bars (symbol, bar_time, record) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    started, cpu = time.perf_counter(), time.process_time()
    lines = 0
    rows: list[tuple[str, str, str]] = []
    with tape.open("rb") as data:
        for line in data:
            event = json.loads(line)
            symbol, bar = event["symbols"][0], event["payload"]["bar"]
            windows.setdefault(symbol, deque(maxlen=window)).append(bar)
            rows.append((symbol, bar["time"], json.dumps(bar)))
            lines += 1
            if len(rows) == batch:
                _write(db, insert, rows)
                rows = []
    if rows:
        _write(db, insert, rows)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.close()
    return Replayed(lines, lines, 0, seconds, cpu)


def _write(db: sqlite3.Connection, insert: str, rows: list[tuple[str, str, str]]) -> None:
    db.execute("BEGIN IMMEDIATE")
    db.executemany(insert, rows)
    db.execute("COMMIT")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


async def throughput(ticks: int, repeats: int, folder: Path) -> None:
    settings = Settings(data_dir=folder / "settings", postgres_url=None, redis_url=None)
    batch, window = settings.replay.ticks_per_commit, settings.hot_window_bars
    tapes = (
        ("(a) embedded replay of a tick-only tape", "the bundled daily bars", write_tick_tape),
        ("(a2) the same on one-minute bars", "SPY one-minute bars, one symbol: every tick a new moment",
         write_minute_tape),
    )  # fmt: skip
    for title, what, write in tapes:
        tape = write(folder / "ticks.jsonl", ticks)
        subject: list[Replayed] = []
        floor: list[Replayed] = []
        for run in range(repeats):  # interleaved, so both see the same machine
            floor.append(await floor_writes(tape, _fresh(folder / f"floor-{title[:4]}-{run}"), batch, window))
            subject.append((await replay_ticks(tape, _fresh(folder / f"replay-{title[:4]}-{run}")))[0])
        print(
            f"{title}: {subject[0].lines:,} lines of {what}, median of {repeats} runs, interleaved with the "
            f"floor; {subject[0].decided} events decided (none counted)"
        )
        _table(subject, floor, batch)


def _table(subject: list[Replayed], floor: list[Replayed], batch: int) -> None:
    rate, floor_rate = _median([r.rate for r in subject]), _median([r.rate for r in floor])
    ratio = floor_rate / rate if rate else float("inf")
    print("    floor: the same tape decoded (json.loads), its bars into a records file (executemany, one "
          f"transaction per {batch}) and per-symbol deques")  # fmt: skip
    cpu, floor_cpu = _median([r.cpu_us for r in subject]), _median([r.cpu_us for r in floor])
    print(f"| {'subject':27} | {'ticks/s':>8} | {'runs':>21} | {'CPU us/tick':>11} | {'target':>7} | met    |")
    print(f"|{'-' * 29}|{'-' * 10}|{'-' * 23}|{'-' * 13}|{'-' * 9}|--------|")
    runs = ", ".join(f"{r.rate:,.0f}" for r in subject)
    met = "met" if rate >= TARGET_TICKS_S else "missed"
    target = f"{TARGET_TICKS_S:,.0f}"
    print(f"| {'aegis replay (embedded)':27} | {rate:>8,.0f} | {runs:>21} | {cpu:>11.1f} | {target:>7} | {met:6} |")
    runs = ", ".join(f"{r.rate:,.0f}" for r in floor)
    floor_row = f"| {'floor: sqlite3 + deques':27} | {floor_rate:>8,.0f} | {runs:>21} | {floor_cpu:>11.1f} |"
    print(f"{floor_row} {'':>7} |        |")
    cpu_ratio = cpu / floor_cpu if floor_cpu else float("inf")
    print(f"| {'ratio subject/floor':27} | {ratio:>7.1f}x | {'':>21} | {cpu_ratio:>10.1f}x | {'':>7} |        |")
    print(f"    ticks applied per run: {', '.join(str(r.ticks) for r in subject)} (of {subject[0].lines} lines)")


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def memory_run(lines: int, folder: Path) -> tuple[Replayed, list[tuple[int, float]]]:
    """A replay of a `lines`-line tape in a child process (its own RSS), with its RSS curve."""
    tape = write_tick_tape(folder / f"ticks-{lines}.jsonl", lines)
    every = max(1, lines // SAMPLES)
    command = [
        sys.executable,
        "-m",
        "evals.bench_ticks",
        "--child",
        str(tape),
        str(folder / f"run-{lines}"),
        str(every),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    tape.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"the replay of {lines} lines failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Replayed(**result["replayed"]), [(int(n), float(mb)) for n, mb in result["samples"]]


def memory(lines: int, long: bool, folder: Path) -> None:
    sizes = [lines, lines * 10] if long else [lines]
    runs = {size: memory_run(size, folder) for size in sizes}
    tolerance = f"{(FLAT_TOLERANCE - 1) * 100:.0f} %"
    print(f"(b) RSS of embedded replays of tick-only tapes (a child process each; sampled every 1/{SAMPLES} of the "
          f"tape; target under {TARGET_RSS_MB:.0f} MB throughout, the 10x tape's maximum within {tolerance} of the "
          "1x one's)")  # fmt: skip
    header = f"| {'lines':>11} | {'ticks':>11} | {'ticks/s':>8} | {'CPU us/tick':>11} | {'RSS max MB':>10} |"
    print(f"{header} {'target':>6} | met    |")
    print(f"|{'-' * 13}|{'-' * 13}|{'-' * 10}|{'-' * 13}|{'-' * 12}|{'-' * 8}|--------|")
    for size, (replayed, samples) in runs.items():
        peak = max(mb for _, mb in samples)
        met = "met" if peak < TARGET_RSS_MB else "missed"
        row = f"| {size:>11,} | {replayed.ticks:>11,} | {replayed.rate:>8,.0f} | {replayed.cpu_us:>11.1f} |"
        print(f"{row} {peak:>10.0f} | {TARGET_RSS_MB:>6.0f} | {met:6} |")
    for size, (_, samples) in runs.items():
        curve = ", ".join(f"{mb:.0f}" for _, mb in samples[:: max(1, len(samples) // 10)])
        print(f"    RSS curve at {size:,} lines (MB, start to end): {curve}")
    if long:
        one, ten = (max(mb for _, mb in runs[size][1]) for size in sizes)
        flat = "met" if ten <= one * FLAT_TOLERANCE else "missed"
        print(f"    10x / 1x maximum RSS: {ten:.0f} / {one:.0f} MB = {ten / one:.2f}: flat {flat}")
    else:
        print("    (the 10x tape: --long)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=0, help="lines of the throughput tape (default: one pass)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-lines", type=int, default=1_000_000)
    parser.add_argument("--long", action="store_true", help="also the 10x memory tape (may take long)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("TAPE", "FOLDER", "EVERY"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # escalations of the run's alerts: not what is measured
    if arguments.child:
        tape, folder, every = arguments.child
        replayed, samples = asyncio.run(replay_ticks(Path(tape), Path(folder), int(every)))
        print(json.dumps({"replayed": replayed.__dict__, "samples": samples}))
        return
    with tempfile.TemporaryDirectory(prefix="aegis-bench-ticks-") as tmp:
        folder = Path(tmp)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
        asyncio.run(throughput(arguments.ticks or pass_lines(), max(1, arguments.repeats), folder))
        if not arguments.no_memory:
            memory(arguments.memory_lines, arguments.long, folder)


if __name__ == "__main__":
    main()
