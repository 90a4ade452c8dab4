"""Running the servers' own client tools (pg_dump, pg_restore, redis-cli): found on PATH, run to the end,
their first error line reported."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from aegis.recovery.errors import ToolFailedError, ToolMissingError

INSTALL_HINTS = {
    "pg_dump": "install the PostgreSQL client (Debian: postgresql-client) of the server's major version or newer",
    "pg_restore": "install the PostgreSQL client (Debian: postgresql-client) of the server's major version or newer",
    "redis-cli": "install the Redis client (Debian: redis-tools)",
}


def tool_path(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(f"{name} not found on PATH: {INSTALL_HINTS.get(name, 'install it')}")
    return found


def major_version(text: str) -> int | None:
    """16 from "pg_dump (PostgreSQL) 16.4" or "160004" (server_version_num); None when there is no number."""
    if text.isdigit() and len(text) >= 5:
        return int(text) // 10_000
    found = re.search(r"(\d+)(?:\.\d+)?", text)
    return int(found.group(1)) if found else None


def run_tool(command: Sequence[str], env: Mapping[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run a client tool; `ToolFailedError` with its first meaningful stderr line when it fails."""
    done = subprocess.run(list(command), env=dict(env), capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise ToolFailedError(f"{command[0].rsplit('/', 1)[-1]} exited {done.returncode}: {first_error(done.stderr)}")
    return done


def first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no message)"])[0]
