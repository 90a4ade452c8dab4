"""Scripted roles that take as long as real ones: a seeded wait per event and role, noted for the arithmetic.

The waits are lognormal around the source's stage targets (AEGIS v3.1 section 1: analyst 2 s, validator
1.5 s, commander 1 s): the median is the target and sigma 0.25, so the p95 is 1.51x the median and the p99
1.79x (analyst p95 3.02 s, validator 2.26 s, commander 1.51 s). A draw is capped at 0.9x the role's fail
threshold (4.5, 3.6 and 4.5 s with the source's 5, 4 and 5 s), which fewer than 1 in 1,000 draws reach:
every role answers within its budget, so every event goes the whole way (a stage past its fail threshold
would fail closed). The draw depends only on the seed, the event id and the role, never on the scheduling,
so a rerun waits the same, and the waits of each session are kept to subtract them exactly.

With analyst || validator (the graph's parallel mode), a session's critical path waits
max(analyst, validator) + commander: a median of about 3.1 s.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from statistics import NormalDist

from aegis.runtime.log_context import event_id_var
from agents.llm.client import LLMRequest
from graphs.deliberation.config import RoleConfig

SIGMA = 0.25
CAP_OF_FAIL = 0.9  # a draw is capped at this share of the role's fail threshold


class RoleLatency:
    """`latency` for `ScriptedClient`: the wait of one request, drawn for its event (the session's bound event
    id, `aegis.runtime.log_context`) and role; `waits[event][role]` keeps what was drawn."""

    def __init__(self, roles: Mapping[str, RoleConfig], seed: int, sigma: float = SIGMA) -> None:
        self._median = {name: role.target_s for name, role in roles.items()}
        self._cap = {name: CAP_OF_FAIL * role.fail_s for name, role in roles.items()}
        self._seed, self._sigma = seed, sigma
        self.waits: dict[str, dict[str, float]] = {}

    def draw(self, event_id: str, role: str) -> float:
        rng = random.Random(f"{self._seed}:{event_id}:{role}")  # a str seed is hashed the same in every process
        return min(self._cap[role], rng.lognormvariate(math.log(self._median[role]), self._sigma))

    def __call__(self, request: LLMRequest) -> float:
        event_id = event_id_var.get() or ""
        wait = self.draw(event_id, request.role)
        self.waits.setdefault(event_id, {})[request.role] = wait
        return wait

    def quantile(self, role: str, q: float) -> float:
        """The distribution's `q` quantile (0 < q < 1) for `role`, before the cap."""
        z = NormalDist().inv_cdf(q)
        return self._median[role] * math.exp(self._sigma * z)


def critical_wait(waits: Mapping[str, float]) -> float:
    """The roles' waits on a session's critical path: analyst and validator in parallel, then the commander."""
    return max(waits.get("analyst", 0.0), waits.get("validator", 0.0)) + waits.get("commander", 0.0)
