"""What a stuck process is waiting on: on SIGUSR1, every asyncio task's stack is written to stderr.

`kill -USR1 <pid>` on a worker that does not finish shows which await each task is parked on (a session, the
health monitor, a receive), without stopping it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO


def dump_tasks(out: TextIO | None = None) -> None:
    """Write each task's name and stack (innermost frame last) to `out` (stderr by default)."""
    stream = out if out is not None else sys.stderr
    tasks = asyncio.all_tasks()
    print(f"--- {len(tasks)} asyncio task(s)", file=stream)
    for task in sorted(tasks, key=lambda t: t.get_name()):
        print(f"--- task {task.get_name()}: {task.get_coro()!r}", file=stream)
        task.print_stack(file=stream)
    stream.flush()


def dump_tasks_on_sigusr1(loop: asyncio.AbstractEventLoop) -> None:
    """Install the handler on the running loop (POSIX only; a no-op where SIGUSR1 does not exist)."""
    sigusr1 = getattr(signal, "SIGUSR1", None)
    if sigusr1 is not None:
        loop.add_signal_handler(sigusr1, dump_tasks)
