"""Prometheus metrics of a process (`Metrics`) and the small HTTP server a worker exposes them on."""

from aegis.runtime.metrics.core import HEALTH_LEVELS, Metrics, flow_of
from aegis.runtime.metrics.http import MetricsServer, serve_metrics

__all__ = ["HEALTH_LEVELS", "Metrics", "MetricsServer", "flow_of", "serve_metrics"]
