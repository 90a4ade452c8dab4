"""Fixtures of the system tests: the deployment as separate `aegis` processes on real servers, broken on purpose.

The tools live in modules of their own, one idea each:
- `tapes`: tapes of real bundled data for the feeder (`build_tape`), made from the session's `replay_tape`.
- `fleet`: `aegis` commands run to completion and `WorkerFleet`, worker processes a test kills and restarts.
- `throwaway_postgres`: `ThrowawayPostgres`, a PostgreSQL cluster of the test's own it may stop and start.
- `records`: readers of what a run left behind, decisions and orders in PostgreSQL and the bus in Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.system.fleet import WorkerFleet
from tests.system.tapes import write_replay_tape


@pytest.fixture(scope="session")
def replay_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tape `run_replay` writes for the whole bundle: every tick (VIX included) and every signal event.

    Written once per test session (see `write_replay_tape`).
    """
    return write_replay_tape(tmp_path_factory.mktemp("replay"))


@pytest.fixture
def fleets() -> Iterator[Callable[..., WorkerFleet]]:
    """Make worker fleets; whatever they left running is killed when the test ends, pass or fail."""
    made: list[WorkerFleet] = []

    def make(env: dict[str, str], cwd: Path, *, until_idle: bool, concurrency: int = 4) -> WorkerFleet:
        fleet = WorkerFleet(env, cwd, until_idle=until_idle, concurrency=concurrency)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.close()
