"""What request bodies share: strict models (unknown fields refused), the audit reason, JSON-safe figures."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
    Field(description="Why: recorded in the audit log"),
]


class Strict(BaseModel):
    """A request body: unknown fields are refused (422 naming them), NaN and infinities too."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ReasonBody(Strict):
    reason: Reason


def finite(value: float) -> float | None:
    """A figure JSON can hold: NaN and infinities (an undefined ratio) become null."""
    number = float(value)
    return number if math.isfinite(number) else None


def finite_map(values: Mapping[Any, float]) -> dict[str, float | None]:
    return {str(key): finite(value) for key, value in values.items()}
