"""AEGIS: LLM-deliberated, risk-guarded trading decisions.

The front door: `Pipeline` (build from `Settings`, `await pipeline.submit(event)`), and the `aegis` CLI.
"""

from aegis.pipeline import Pipeline
from aegis.settings import Settings

__all__ = ["Pipeline", "Settings"]
