"""`aegis serve [--host 127.0.0.1] [--port 8400]`: the REST API, its OpenAPI page (/docs) and the dashboard (/).

Binds to loopback unless told otherwise (`--host 0.0.0.0` in a container). Callers need an API key
(`aegis keys create`) or a token from the configured identity provider; the health routes and /metrics are
open to probes and scrapers.
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from aegis.server.app import create_app
from aegis.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default: server.host, loopback)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: server.port, 8400)")] = None,
) -> None:
    """Serve the REST API and the dashboard until stopped (Ctrl-C or SIGTERM finishes requests in flight)."""
    settings = Settings()
    config = settings.server
    chosen = config.model_copy(update={"host": host or config.host, "port": port or config.port})
    settings = settings.model_copy(update={"server": chosen})
    app = create_app(settings)
    typer.echo(f"AEGIS serving on http://{chosen.host}:{chosen.port} (API docs at /docs)", err=True)
    uvicorn.run(app, host=chosen.host, port=chosen.port, log_config=None, access_log=False, server_header=False)
