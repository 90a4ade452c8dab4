"""RUNE's deterministic review of a workflow run, before its result is reported.

Five checks, each with what it rests on:
- transparency: every step that succeeded says what it found and cites the records it rests on;
- authority: no step ran beyond the requester's role, and no change beyond the approver's;
- market integrity: the orders the run placed or cancelled complete no wash trade, layering or spoofing
  pattern (the findings come from `quant.market_integrity`, passed in);
- fairness across bots: an allocation change that starves a bot (cuts it by half or more, or to nothing)
  cites its reason for that bot;
- autonomy: no step that changes anything ran without an approval given before it started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from agents.rune import RuneCheck, RuneOpinion, RuneReview
from graphs.workflow.state import ApprovalGiven, PlanChecks, StepResult
from state.access import Access

REBALANCE_TOOL = "portfolio.rebalance"
STARVED_FRACTION = 0.5  # an allocation cut to half of what it was, or less, starves the bot


def review_run(
    results: Mapping[str, StepResult],
    checks: PlanChecks,
    role: Access,
    approval: ApprovalGiven | None,
    integrity_findings: Sequence[str] = (),
    opinion: RuneOpinion | None = None,
    opinion_failed: str | None = None,
) -> RuneReview:
    ran = [r for r in results.values() if r.status in ("ok", "failed") and r.attempts > 0]
    found = [
        _transparency(results.values()),
        _authority(ran, checks, role, approval),
        RuneCheck(
            name="market_integrity",
            passed=not integrity_findings,
            detail="; ".join(integrity_findings) or "no wash trade, layering or spoofing pattern in the run's orders",
        ),
        _fairness(results.values()),
        _autonomy(ran, approval),
    ]
    flagged = any(not check.passed for check in found) or bool(opinion and opinion.concerns)
    return RuneReview(
        verdict="flag" if flagged else "pass", checks=found, opinion=opinion, opinion_failed=opinion_failed
    )


def _transparency(results: Iterable[StepResult]) -> RuneCheck:
    done = [r for r in results if r.status == "ok"]
    uncited = [r.step for r in done if not r.cites or not r.summary.strip()]
    cites = sorted({c for r in done for c in r.cites})
    if uncited:
        return RuneCheck(name="transparency", passed=False, cites=cites,
                         detail=f"steps {', '.join(uncited)} report results that cite no record")  # fmt: skip
    detail = f"{len(done)} results, each citing its records ({len(cites)} records cited)" if done else "no results"
    return RuneCheck(name="transparency", passed=True, detail=detail, cites=cites[:50])


def _authority(
    ran: Sequence[StepResult], checks: PlanChecks, role: Access, approval: ApprovalGiven | None
) -> RuneCheck:
    beyond = [r.step for r in ran if not role.allows(Access(checks.step_access.get(r.step, Access.ADMIN)))]
    changes = [r for r in ran if r.mutates]
    if changes and approval is not None and not Access(approval.role).allows(Access(checks.approver_role)):
        beyond.extend(r.step for r in changes)
    if beyond:
        return RuneCheck(name="authority", passed=False,
                         detail=f"steps {', '.join(sorted(set(beyond)))} ran beyond the requester's {role} role "
                                "or the approver's")  # fmt: skip
    return RuneCheck(name="authority", passed=True, detail=f"every step within the requester's {role} role"
                     + (f" and the approver's {approval.role} role" if changes and approval else ""))  # fmt: skip


def _fairness(results: Iterable[StepResult]) -> RuneCheck:
    starved: list[str] = []
    unexplained: list[str] = []
    for result in results:
        if result.tool != REBALANCE_TOOL or result.status != "ok":
            continue
        before, after = result.data.get("before") or {}, result.data.get("after") or {}
        reasons = result.data.get("reasons") or {}
        for bot, old in before.items():
            new = float(after.get(bot, 0.0))
            if float(old) > 0 and new <= float(old) * STARVED_FRACTION:
                starved.append(bot)
                if not str(reasons.get(bot, "")).strip():
                    unexplained.append(f"{bot} ({float(old):.1f} % -> {new:.1f} %)")
    if unexplained:
        return RuneCheck(name="fairness", passed=False,
                         detail=f"allocation cuts without a reason: {', '.join(unexplained)}")  # fmt: skip
    if starved:
        return RuneCheck(name="fairness", passed=True, detail=f"bots cut by half or more, each with its reason: "
                         f"{', '.join(starved)}")  # fmt: skip
    return RuneCheck(name="fairness", passed=True, detail="no bot's allocation was cut by half or more")


def _autonomy(ran: Sequence[StepResult], approval: ApprovalGiven | None) -> RuneCheck:
    changes = [r for r in ran if r.mutates]
    unapproved = [
        r.step
        for r in changes
        if approval is None or not approval.approved or (r.started_at is not None and r.started_at < approval.at)
    ]
    if unapproved:
        detail = f"steps {', '.join(unapproved)} changed something without an approval given first"
        return RuneCheck(name="autonomy", passed=False, detail=detail)
    if changes and approval is not None:
        detail = f"{len(changes)} changes, approved by {approval.by} ({approval.role}) first"
        return RuneCheck(name="autonomy", passed=True, detail=detail)
    return RuneCheck(name="autonomy", passed=True, detail="nothing changed: no approval needed")
