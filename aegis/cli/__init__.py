"""The `aegis` command line. One module per command group; this file only assembles them.

How a failure is reported (one line, exit 2; a traceback only with --debug) lives in `aegis.cli.errors`.
The log is configured here, once, before any command runs (`aegis.logging_setup`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from aegis.cli import (
    alerts,
    approvals,
    ask,
    audit,
    backtest,
    backup,
    bots,
    control,
    data,
    doctor,
    drill,
    eval,
    feed,
    health,
    keys,
    limits,
    live,
    migrate,
    portfolio,
    posture,
    replay,
    rules,
    run,
    serve,
    trace,
    worker,
)
from aegis.cli.errors import DEBUG_ENV, AegisCommand, AegisGroup
from aegis.logging_setup import setup_logging
from aegis.settings import Settings

app = typer.Typer(
    name="aegis",
    cls=AegisGroup,
    no_args_is_help=True,
    add_completion=False,
    help="AEGIS: LLM-deliberated, risk-guarded trading.",
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", envvar=DEBUG_ENV, help="Show the full traceback of a failure")
    ] = False,
) -> None:
    """AEGIS: LLM-deliberated, risk-guarded trading decisions."""
    # `debug` is read by AegisGroup when a command fails.
    try:
        settings: Settings | None = Settings()
    except Exception:  # the command reads the settings again and reports what is wrong with them, in one line
        settings = None
    setup_logging(settings)


app.command("run", cls=AegisCommand)(run.run)
app.command("replay", cls=AegisCommand)(replay.replay)
app.command("doctor", cls=AegisCommand)(doctor.doctor)
app.command("worker", cls=AegisCommand)(worker.worker)
app.command("migrate", cls=AegisCommand)(migrate.migrate)
app.command("feed", cls=AegisCommand)(feed.feed)
app.command("health", cls=AegisCommand)(health.health)
app.command("halt", cls=AegisCommand)(control.halt)
app.command("resume", cls=AegisCommand)(control.resume)
app.command("status", cls=AegisCommand)(control.status)
app.command("drill", cls=AegisCommand)(drill.drill)
app.command("portfolio", cls=AegisCommand)(portfolio.portfolio)
app.command("backtest", cls=AegisCommand)(backtest.backtest)
app.command("trace", cls=AegisCommand)(trace.trace)
app.command("ask", cls=AegisCommand)(ask.ask)
app.command("serve", cls=AegisCommand)(serve.serve)
app.command("backup", cls=AegisCommand)(backup.backup)
app.command("restore", cls=AegisCommand)(backup.restore)
app.add_typer(eval.app, name="eval")
app.add_typer(data.app, name="data")
app.add_typer(alerts.app, name="alerts")
app.add_typer(approvals.app, name="approvals")
app.add_typer(bots.app, name="bots")
app.add_typer(rules.app, name="rules")
app.add_typer(posture.app, name="posture")
app.add_typer(limits.app, name="limits")
app.add_typer(keys.app, name="keys")
app.add_typer(live.app, name="live")
app.add_typer(audit.app, name="audit")


def main() -> None:
    app()
