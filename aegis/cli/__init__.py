"""The `aegis` command line. One module per command group; this file only assembles them."""

from __future__ import annotations

import typer

from aegis.cli import doctor, eval, feed, migrate, replay, run, worker

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
app.add_typer(eval.app, name="eval")


def main() -> None:
    app()
