"""RUNE's deterministic review: transparency, authority, market integrity, fairness, autonomy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agents.rune import RuneOpinion
from graphs.workflow.review import review_run
from graphs.workflow.state import ApprovalGiven, PlanChecks, StepResult
from state.access import Access

T0 = datetime(2016, 3, 1, 15, tzinfo=UTC)
APPROVED = ApprovalGiven(approved=True, by="ben", role=Access.TRADE, reason="fine", at=T0)


def result(step: str, tool: str, **fields: Any) -> StepResult:
    base = {"status": "ok", "attempts": 1, "summary": f"{tool} done", "cites": [f"record:{step}"],
            "started_at": T0 + timedelta(seconds=1)}  # fmt: skip
    return StepResult(step=step, tool=tool, **{**base, **fields})


def checks(**access: Access) -> PlanChecks:
    return PlanChecks(verdict="approve", needs_approval=True, approver_role=Access.TRADE, step_access=access)


def by_name(review: Any) -> dict[str, Any]:
    return {check.name: check for check in review.checks}


def test_a_clean_run_passes_every_check() -> None:
    results = {"s1": result("s1", "positions.show"), "s2": result("s2", "bot.stop", mutates=True)}
    review = review_run(results, checks(s1=Access.READ, s2=Access.TRADE), Access.TRADE, APPROVED)
    assert review.verdict == "pass" and all(c.passed for c in review.checks)
    assert [c.name for c in review.checks] == ["transparency", "authority", "market_integrity", "fairness", "autonomy"]
    assert "approved by ben (trade) first" in by_name(review)["autonomy"].detail


def test_a_result_without_records_fails_transparency() -> None:
    results = {"s1": result("s1", "pnl.show", cites=[])}
    review = review_run(results, checks(s1=Access.READ), Access.READ, None)
    assert review.verdict == "flag" and not by_name(review)["transparency"].passed


def test_a_step_beyond_the_requesters_role_fails_authority() -> None:
    results = {"s1": result("s1", "trading.resume", mutates=True)}
    review = review_run(results, checks(s1=Access.ADMIN), Access.TRADE, APPROVED)
    assert not by_name(review)["authority"].passed


def test_an_approver_without_the_role_needed_fails_authority() -> None:
    needs_admin = PlanChecks(verdict="approve", needs_approval=True, approver_role=Access.ADMIN,
                             step_access={"s1": Access.ADMIN})  # fmt: skip
    results = {"s1": result("s1", "trading.resume", mutates=True)}
    review = review_run(results, needs_admin, Access.ADMIN, APPROVED)
    assert not by_name(review)["authority"].passed


def test_a_change_without_an_approval_given_first_fails_autonomy() -> None:
    early = {"s1": result("s1", "bot.stop", mutates=True, started_at=T0 - timedelta(seconds=1))}
    assert not by_name(review_run(early, checks(s1=Access.TRADE), Access.TRADE, APPROVED))["autonomy"].passed
    unapproved = {"s1": result("s1", "bot.stop", mutates=True)}
    assert not by_name(review_run(unapproved, checks(s1=Access.TRADE), Access.TRADE, None))["autonomy"].passed
    refused = {"s1": result("s1", "bot.stop", mutates=True, status="refused", attempts=0)}
    assert by_name(review_run(refused, checks(s1=Access.TRADE), Access.TRADE, None))["autonomy"].passed


def test_an_allocation_that_starves_a_bot_must_cite_its_reason() -> None:
    data = {"before": {"value": 40.0, "growth": 40.0}, "after": {"value": 5.0, "growth": 70.0}}
    starved = {"s1": result("s1", "portfolio.rebalance", mutates=True, data=data)}
    fairness = by_name(review_run(starved, checks(s1=Access.TRADE), Access.TRADE, APPROVED))["fairness"]
    assert not fairness.passed and "value (40.0 % -> 5.0 %)" in fairness.detail
    explained = {"s1": result("s1", "portfolio.rebalance", mutates=True,
                              data={**data, "reasons": {"value": "Sharpe -0.4 over 60 days"}})}  # fmt: skip
    assert by_name(review_run(explained, checks(s1=Access.TRADE), Access.TRADE, APPROVED))["fairness"].passed


def test_integrity_findings_and_an_opinions_concerns_flag_the_run() -> None:
    results = {"s1": result("s1", "orders.cancel", mutates=True)}
    review = review_run(results, checks(s1=Access.TRADE), Access.TRADE, APPROVED, ["wash trade: AAPL buy x sell"])
    assert review.verdict == "flag" and "wash trade" in by_name(review)["market_integrity"].detail
    opinion = RuneOpinion(concerns=["the request did not ask to cancel"], summary="one concern")
    concerned = review_run(results, checks(s1=Access.TRADE), Access.TRADE, APPROVED, opinion=opinion)
    assert concerned.verdict == "flag" and all(c.passed for c in concerned.checks)
