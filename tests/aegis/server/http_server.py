"""A real uvicorn server over a pipeline, on a free loopback port, in the test's own event loop (the
pipeline's), for what an in-process ASGI client cannot show: a streamed response, a real browser."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn

from aegis.pipeline import Pipeline
from aegis.server.app import create_app
from aegis.server.context import ServerContext
from aegis.settings import Settings


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test's process keeps its own signal handlers
        yield


@contextlib.asynccontextmanager
async def served_over_http(
    pipeline: Pipeline, settings: Settings | None = None
) -> AsyncIterator[tuple[str, ServerContext]]:
    """(the server's base URL, its context) while the block runs."""
    app = create_app(settings or pipeline.settings, pipeline=pipeline)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    for _ in range(500):  # bounded: uvicorn says it started by a flag only
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", app.state.aegis
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        listening.close()
