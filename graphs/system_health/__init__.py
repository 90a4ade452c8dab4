"""The system-health flow: a component's reported health feeds the failure tiers and is judged by the rules."""

from graphs.system_health.graph import build_system_health_graph

__all__ = ["build_system_health_graph"]
