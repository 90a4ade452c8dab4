"""The event loop of the long-running processes (workers, feeds): uvloop where it is installed.

A worker is one event loop driving many sessions, each a dozen LangGraph steps and a handful of
PostgreSQL and Redis round trips, so the loop's own scheduling is a real share of its CPU. uvloop (libuv,
in C) does that scheduling for less; it is installed with the project on Linux and macOS. Set
`AEGIS_EVENT_LOOP=asyncio` to run on the standard library's loop instead (the results are the same).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EVENT_LOOP_ENV = "AEGIS_EVENT_LOOP"


def loop_name() -> str:
    """ "uvloop" when it will be used, else "asyncio"."""
    if os.environ.get(EVENT_LOOP_ENV, "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_name` names."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
