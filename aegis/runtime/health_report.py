"""What one health check found: a status per component and the whole, as frozen values the server, the CLI and
the dashboard read (`HealthReport.model_dump(mode="json")` is the readiness route's body).

Statuses are `ok`, `degraded` (working, a threshold crossed: look), `down` (not working). The whole is the
worst component; `ready` is false while a required component (`HealthConfig.required`) is down.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

Status = Literal["ok", "degraded", "down"]
Measured = dict[str, float | int | str | bool | None]

_RANK: dict[Status, int] = {"ok": 0, "degraded": 1, "down": 2}


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__, default="ok")


def at_least(value: float, degraded: float, down: float | None = None) -> Status:
    """The status of a value where more is worse: `down` at or over `down`, `degraded` at or over `degraded`."""
    if down is not None and value >= down:
        return "down"
    return "degraded" if value >= degraded else "ok"


class ComponentHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = Field(description="What was checked: postgres, redis, bus, workers, provider:<route>, ...")
    status: Status
    detail: str = Field("", description="One line for a person: what was measured, why not ok")
    measured: Measured = Field(default_factory=dict, description="The numbers behind the status")
    checked_at: datetime
    latency_ms: float = Field(0.0, ge=0, description="How long the probe took")
    required: bool = Field(False, description="Down makes the process not ready")


class HealthReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: str = Field(description="The process that checked (a worker's name, or host-pid)")
    checked_at: datetime
    components: tuple[ComponentHealth, ...]
    recovery: tuple[str, ...] = Field((), description="What the monitor did about what it found this round")

    @model_validator(mode="before")
    @classmethod
    def _derived_fields_are_read_back(cls, data: Any) -> Any:
        """A report's own JSON (with `status` and `ready`, computed) validates back into the report."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if key not in ("status", "ready")}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Status:
        """The worst component's status."""
        return worst([c.status for c in self.components])

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ready(self) -> bool:
        """No required component is down."""
        return not any(c.required and c.status == "down" for c in self.components)

    def component(self, name: str) -> ComponentHealth | None:
        return next((c for c in self.components if c.component == name), None)

    def summary(self) -> dict[str, object]:
        """The JSON a probe route or `aegis health --json` prints: the whole (status, ready), then each component."""
        return self.model_dump(mode="json")
