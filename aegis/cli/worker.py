"""`aegis worker`: consume events from the Redis Streams bus (one of many workers in a consumer group)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from typing import Annotated

import typer
from rich.console import Console

from aegis.pipeline import Pipeline
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.worker import Worker
from aegis.settings import Settings


async def _work(settings: Settings, name: str, concurrency: int, until_idle: bool) -> None:
    bus = open_bus(settings)
    async with await Pipeline.open(settings) as pipeline:
        worker = Worker(pipeline, bus, name, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        ticks = asyncio.create_task(pipeline.monitor.run_ticks())  # the time-driven tiers and escalations
        try:
            stats = await worker.run(until_idle=until_idle)
        finally:
            ticks.cancel()
            await asyncio.gather(ticks, return_exceptions=True)
            await bus.close()
    Console().print(
        f"worker {name}: decided {stats.decided}, rejected {stats.rejected}, left pending {stats.failed}, "
        f"ticks applied {stats.ticks} (refused {stats.ticks_refused})"
    )


def worker(
    name: Annotated[str | None, typer.Option(help="Consumer name (default: host-pid)")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Sessions run at once by this worker")] = 4,
    until_idle: Annotated[bool, typer.Option(help="Exit when the bus has nothing to deliver")] = False,
) -> None:
    """Run a worker: events from the bus -> sessions -> decisions; ack after persist; SIGTERM drains."""
    settings = Settings()
    if not settings.redis_url:
        raise typer.BadParameter("a worker needs AEGIS_REDIS_URL: the in-process bus lives inside one process")
    asyncio.run(_work(settings, name or f"{socket.gethostname()}-{os.getpid()}", concurrency, until_idle))
