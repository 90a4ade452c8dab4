"""The economic-release flow: a release triggers the deliberation of the symbols it affects, by config."""

from graphs.economic_release.graph import build_economic_release_graph

__all__ = ["build_economic_release_graph"]
