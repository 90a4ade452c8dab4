"""A worker's metrics over HTTP: prometheus_client's own server on a thread, loopback by default.

The REST server serves `Metrics.render()` on its `/metrics` route; a worker has no web server, so
`aegis worker --metrics-port N` starts this one. Binding anything but loopback is the operator's choice
(`--metrics-host`), since the page is not authenticated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from aegis.runtime.metrics.core import Metrics

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(metrics: Metrics, port: int, host: str = LOOPBACK) -> MetricsServer:
    """Serve `metrics` at http://host:port/ (any path); port 0 picks a free port (see `.port`). `OSError`
    when the port is taken."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server, thread)
