"""`aegis worker`: consume events from the Redis Streams bus (one of many workers in a consumer group).

SIGTERM drains; SIGUSR1 writes every asyncio task's stack to stderr (what a worker that does not finish waits
on). Beside the worker run the risk monitor's ticks and the health monitor (`aegis.runtime.health_monitor`: every
`health.interval_s`, with this worker's heartbeat). A worker past `health.memory_limit_mb` stops taking events,
finishes those in flight and exits with code 75 (`RECYCLE_EXIT_CODE`): its supervisor starts a fresh one.
"""

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
from aegis.runtime.health_monitor import RECYCLE_EXIT_CODE, HealthMonitor
from aegis.runtime.metrics import Metrics, MetricsServer, serve_metrics
from aegis.runtime.metrics.http import LOOPBACK
from aegis.runtime.task_dump import dump_tasks_on_sigusr1
from aegis.runtime.worker import Worker
from aegis.settings import Settings


async def _work(
    settings: Settings,
    name: str,
    concurrency: int,
    until_idle: bool,
    metrics_port: int = 0,
    metrics_host: str = LOOPBACK,
) -> bool:
    """Run the worker; True when it stopped to be recycled (its memory)."""
    bus = open_bus(settings)
    async with await Pipeline.open(settings) as pipeline:
        server: MetricsServer | None = None
        metrics: Metrics | None = None
        if metrics_port:
            metrics = Metrics()
            metrics.attach(pipeline)
            try:
                server = serve_metrics(metrics, metrics_port, metrics_host)
            except OSError as exc:
                await bus.close()
                raise typer.BadParameter(f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc}") from None
        worker = Worker(pipeline, bus, name, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        dump_tasks_on_sigusr1(loop)  # `kill -USR1`: what each task waits on, for a worker that does not finish
        ticks = asyncio.create_task(pipeline.monitor.run_ticks())  # the time-driven tiers and escalations
        health = HealthMonitor(pipeline, settings.health, worker=worker)
        if metrics is not None:
            health.listen(metrics.record_health)
        stop_health = asyncio.Event()
        watching = asyncio.create_task(health.run(stop_health))
        try:
            stats = await worker.run(until_idle=until_idle)
        finally:
            ticks.cancel()
            stop_health.set()
            await asyncio.gather(ticks, watching, return_exceptions=True)
            await bus.close()
            if server is not None:
                server.close()
    Console().print(
        f"worker {name}: decided {stats.decided}, rejected {stats.rejected}, left pending {stats.failed}, "
        f"ticks applied {stats.ticks} (refused {stats.ticks_refused})"
    )
    if health.recycle:
        Console().print(f"worker {name}: recycled past its memory limit; exit {RECYCLE_EXIT_CODE}")
    return health.recycle


def worker(
    name: Annotated[str | None, typer.Option(help="Consumer name (default: host-pid)")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Sessions run at once by this worker")] = 4,
    until_idle: Annotated[bool, typer.Option(help="Exit when the bus has nothing to deliver")] = False,
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Serve Prometheus metrics on this port (0: off)")
    ] = 0,
    metrics_host: Annotated[
        str, typer.Option(help="Address the metrics port binds (loopback unless you open it on purpose)")
    ] = LOOPBACK,
) -> None:
    """Run a worker: events from the bus -> sessions -> decisions; ack after persist; SIGTERM drains."""
    settings = Settings()
    if not settings.redis_url:
        raise typer.BadParameter("a worker needs AEGIS_REDIS_URL: the in-process bus lives inside one process")
    consumer = name or f"{socket.gethostname()}-{os.getpid()}"
    if asyncio.run(_work(settings, consumer, concurrency, until_idle, metrics_port, metrics_host)):
        raise typer.Exit(RECYCLE_EXIT_CODE)
