"""The `aegis` command line. One module per command group; this file only assembles them."""

from __future__ import annotations

import typer

from aegis.cli import alerts, control, doctor, drill, eval, feed, migrate, replay, run, worker

app = typer.Typer(no_args_is_help=True, add_completion=False, help="AEGIS: LLM-deliberated, risk-guarded trading.")


@app.callback()
def _root() -> None:
    """AEGIS: LLM-deliberated, risk-guarded trading decisions."""


app.command("run")(run.run)
app.command("replay")(replay.replay)
app.command("doctor")(doctor.doctor)
app.command("worker")(worker.worker)
app.command("migrate")(migrate.migrate)
app.command("feed")(feed.feed)
app.command("halt")(control.halt)
app.command("resume")(control.resume)
app.command("status")(control.status)
app.command("drill")(drill.drill)
app.add_typer(eval.app, name="eval")
app.add_typer(alerts.app, name="alerts")


def main() -> None:
    app()
