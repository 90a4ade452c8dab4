"""The circuit-breaker flow: a CIRCUIT_BREAKER event stops the bots it names (or every bot), records why,
and raises an alert."""

from graphs.breaker.graph import build_breaker_graph

__all__ = ["build_breaker_graph"]
