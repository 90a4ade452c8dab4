"""`aegis ask "..." [--as NAME] [--role read|trade|admin]`: an operator's request through the workflow.

Sena plans it with the registry's tools, Lubit rules on the plan, and a plan that changes anything (trades, a
limit, a mode, an allocation) waits for a person's approval: asked here when the terminal is interactive (or
given with --approve / --reject), else left pending for `aegis approvals approve workflow:<id>`. Then GitCode
runs the steps and RUNE reviews the run; all of it is printed, and recorded as the request's decision.

    aegis ask "show the positions" --data-dir runs/2026-12-04T0900
    aegis ask "stop the value bot until Monday" --role trade
    aegis ask "why was AAPL vetoed on 2016-03-01?"
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from aegis.cli.bots import DataDir, on_records
from aegis.cli.control import operator_name
from aegis.pipeline import Pipeline
from state.access import Access
from state.decisions import DecisionRecord, Outcome

console = Console(soft_wrap=True, highlight=False, markup=False)

RoleOption = Annotated[Access, typer.Option("--role", help="The requester's role: read, trade or admin")]


def ask(
    request: Annotated[str, typer.Argument(help="The request, in your words (see the README for the forms)")],
    name: Annotated[str | None, typer.Option("--as", help="Who asks (default: the login name)")] = None,
    role: RoleOption = Access.READ,
    approve: Annotated[
        bool | None,
        typer.Option("--approve/--reject", help="Answer the approval now (default: ask when interactive)"),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why you approve or reject (audited)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the workflow's record as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run a request through Sena, Lubit, the approval, GitCode and RUNE; print each step."""
    requester = name or operator_name()
    shown: list[bool] = []  # the plan was printed before the approval prompt

    async def work(pipeline: Pipeline) -> tuple[DecisionRecord, dict[str, Any] | None]:
        decision = await pipeline.request(request, requester=requester, role=role)
        if decision.outcome is Outcome.AWAITING_APPROVAL:
            if not as_json:
                _print_plan(decision)
                shown.append(True)
            answer = approve if approve is not None else _asked()
            if answer is not None:
                why = reason or ("approved at the prompt" if answer else "rejected at the prompt")
                approval_id = f"workflow:{decision.event_id}"
                decided = pipeline.approve if answer else pipeline.reject
                await decided(approval_id, by=requester, role=role, reason=why)
                decision = await pipeline.services.store.get_decision(decision.event_id) or decision
        return decision, await pipeline.workflow(decision.event_id)

    decision, record = on_records(data_dir, work)
    if as_json:
        typer.echo(json.dumps(record, indent=1, sort_keys=True, default=str))
        return
    if not shown:
        _print_plan(decision)
    _print_result(decision)


def _asked() -> bool | None:
    if not sys.stdin.isatty():
        return None
    return typer.confirm("Approve this plan?", default=False)


def _print_plan(decision: DecisionRecord) -> None:
    record = decision.operation or {}
    plan = record.get("plan") or {}
    console.print(f"request {decision.event_id} by {record.get('requester')} ({record.get('role')}): "
                  f"{record.get('request')!r}")  # fmt: skip
    rounds = record.get("revisions") or 0
    console.print(f"Sena's plan{f' (after {rounds} revisions)' if rounds else ''}: {plan.get('summary', '')}")
    if plan.get("unsupported"):
        console.print(f"  unsupported: {plan['unsupported']}")
    access = (record.get("checks") or {}).get("step_access") or {}
    for step in plan.get("steps") or []:
        after = f" after {', '.join(step['depends_on'])}" if step.get("depends_on") else ""
        args = json.dumps(step.get("args") or {}, sort_keys=True)
        console.print(f"  {step['id']} {step['tool']} {args} [{access.get(step['id'], '?')}]{after}: {step['why']}")
    lubit = record.get("lubit") or {}
    if lubit:
        console.print(f"Lubit: {lubit.get('verdict')}: {'; '.join(lubit.get('reasons') or [])}")
    if decision.outcome is Outcome.AWAITING_APPROVAL:
        console.print(f"approval: {decision.reason}")


def _print_result(decision: DecisionRecord) -> None:
    record = decision.operation or {}
    console.print(f"outcome: {decision.outcome}: {decision.reason}")
    if decision.outcome is Outcome.AWAITING_APPROVAL:
        console.print(f"approve or reject it later: aegis approvals approve|reject workflow:{decision.event_id}")
        return
    approval = record.get("approval")
    if approval:
        verb = "approved" if approval.get("approved") else "rejected"
        console.print(f"approval: {verb} by {approval.get('by')} ({approval.get('role')}): {approval.get('reason')}")
    for step_id, result in (record.get("results") or {}).items():
        line = result.get("summary") if result.get("status") == "ok" else result.get("error")
        console.print(f"  {step_id} {result['tool']} {result['status']} ({result.get('attempts', 0)} tries): {line}")
        if result.get("cites"):
            console.print(f"     cites {', '.join(result['cites'][:6])}{' ...' if len(result['cites']) > 6 else ''}")
    review = record.get("review")
    if review:
        console.print(f"RUNE: {review.get('verdict')}")
        for check in review.get("checks") or []:
            console.print(f"  {'ok  ' if check.get('passed') else 'FAIL'} {check['name']}: {check['detail']}")
        opinion = review.get("opinion")
        if opinion:
            console.print(f"  opinion: {opinion.get('summary')}; concerns: {opinion.get('concerns') or 'none'}")
