"""`ThrowawayPostgres`: a PostgreSQL cluster of the test's own (initdb + pg_ctl) that it may stop and start;
the machine's own servers stay up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import require_service
from tests.throwaway import free_port


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl live: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class ThrowawayPostgres:
    """initdb + pg_ctl on a free port, data in a temporary folder; run as the `postgres` OS user when the
    test runs as root (initdb refuses root). Trust authentication on loopback only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="aegis-pg-"))
        self.data = self.directory / "data"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stdout}{done.stderr}")

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "server.log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bindir = postgres_bindir()
    require_service("PostgreSQL binaries", bindir is not None, "no pg_ctl on PATH or under /usr/lib/postgresql")
    assert bindir is not None
    if os.geteuid() == 0:
        require_service("runuser", shutil.which("runuser") is not None, "initdb refuses root and runuser is missing")
    server = ThrowawayPostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
