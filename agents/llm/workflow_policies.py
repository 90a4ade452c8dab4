"""The `rules` baseline of the workflow's gatekeeper and reviewer (Sena's is its command grammar).

Lubit's rules adopt the verdict of the deterministic checks shown in its facts (`facts.checks`, computed by
`graphs.workflow.checks`) and order the steps: reads first, then changes, each after what it depends on.
RUNE's rules give no opinion beyond its deterministic checks: they say so, honestly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _depth(step_id: str, depends: Mapping[str, list[str]], seen: frozenset[str] = frozenset()) -> int:
    if step_id in seen:
        return 0
    return 1 + max((_depth(d, depends, seen | {step_id}) for d in depends.get(step_id, [])), default=0)


def lubit_policy(facts: Mapping[str, Any]) -> dict[str, Any]:
    checks = facts.get("checks") or {}
    verdict = checks.get("verdict", "reject")
    problems = [str(p.get("message", p)) for p in checks.get("problems") or [] if p]
    steps = (facts.get("plan") or {}).get("steps") or []
    depends = {str(s.get("id")): [str(d) for d in s.get("depends_on") or []] for s in steps}
    mutating = {str(s.get("id")) for s in steps if s.get("mutates")}
    order = sorted(depends, key=lambda step_id: (step_id in mutating, _depth(step_id, depends), step_id))
    if verdict == "approve":
        reasons = ["every step is a registry tool within the requester's role, its arguments valid"]
    else:
        reasons = problems or [f"the checks say {verdict}"]
    return {"verdict": verdict, "reasons": reasons[:12], "priorities": {s: i for i, s in enumerate(order, 1)}}


def rune_policy(facts: Mapping[str, Any]) -> dict[str, Any]:
    failed = [c for c in facts.get("checks") or [] if not c.get("passed", True)]
    summary = "rules baseline: no opinion beyond the deterministic checks" + (
        f"; {len(failed)} of them failed" if failed else "; they all passed"
    )
    return {"concerns": [], "summary": summary}
