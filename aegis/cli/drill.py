"""`aegis drill NAME`: inject a fault into a simulated session and print how each tier responds."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from aegis.runtime.drills import Drill, run_drill


def drill(name: Drill) -> None:
    """Run a drill (provider-outage, feed-disconnect, price-mismatch, loss-limit, kill-switch, circuit-breaker) on
    bundled data and a simulated clock; exit 0 when it behaved as configured."""
    console = Console(highlight=False, width=160)
    result = asyncio.run(run_drill(name, say=console.print))
    raise typer.Exit(0 if result.passed else 1)
