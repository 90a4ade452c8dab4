"""Sena's `rules` planner: a documented command grammar over every registry tool, the honest offline baseline.

It reads the operator's request (the quoted text whose source is "operator_request") as data: it splits it
into clauses, matches each clause in full against the forms below and resolves every name against the facts
(bots, symbols with market data, backtest strategies, eval sets). Nothing of the text is executed or
evaluated. A clause the grammar does not know, or a name the facts do not list, gives a plan with no steps
whose `unsupported` says exactly what was not understood and lists the forms: the grammar never plans half
a request, and no word outside a form can add a step (so an injected instruction plans nothing).

It plans what is asked whatever the requester's role: Lubit's checks refuse a tool the role lacks. It cannot
revise a plan Lubit sent back (it plans the words as written), so with `facts.feedback` it returns no steps
and quotes Lubit's reasons. Mutating steps carry the reason "operator request: <the clause, shortened>";
each step's evidence quotes the words it rests on. Every plan validates as `agents.sena.Plan` and every
step's arguments against `tools.registry.catalog`.

Grammar (case-insensitive; "the", "my", "our" optional; "please" / "can you" and a trailing "now" ignored;
[...] optional, a | b alternatives; DAY is YYYY-MM-DD, "today" or "yesterday"):

    show (the) positions [of BOT | for SYMBOL]                   -> positions.show
        "show the positions", "show the positions of the value bot", "positions for AAPL"
    show (the) p&l | pnl | profit (and loss)                     -> pnl.show
        "show the p&l"
    show (the) [last N] [unacknowledged] alerts                  -> alerts.list
        "show the unacknowledged alerts", "show the last 5 alerts"
    show | list (the) [last N] [OUTCOME] decisions [for SYMBOL] [on DAY]  -> decisions.query
        "list the vetoed decisions for AAPL on 2016-03-01", "show decisions today"
    why was SYMBOL OUTCOME on DAY                                -> decisions.explain
        "why was AAPL vetoed on 2016-03-01?"
    explain (the) SYMBOL [OUTCOME] decision on DAY               -> decisions.explain
        "explain the AAPL decision on 2016-03-01"
    explain decision | event EVENT_ID  (or explain ID, an id with a digit)  -> decisions.explain
        "explain decision sig-0042"
    analyse | analyze | review the portfolio                     -> portfolio.analyse
        "analyse the portfolio", "show the portfolio analysis"
    propose a [PROFILE] rebalance | allocation                   -> portfolio.propose
    what would a PROFILE allocation be                           -> portfolio.propose
        "propose a conservative rebalance", "what would an aggressive allocation be"
    rebalance (the portfolio) at | to the PROFILE level          -> portfolio.propose, then portfolio.rebalance
    apply the PROFILE allocation                                    (the rebalance depends on the proposal)
        "rebalance at the conservative level", "rebalance the portfolio to aggressive"
    stop | pause the BOT bot [until WHEN | for N hours]          -> bot.stop
        "stop the value bot until Monday", "pause the growth bot for 2 hours"
    resume | restart the BOT bot                                 -> bot.resume
        "resume the value bot"
    halt | stop trading [on SYMBOL]  (or hit the kill switch)    -> trading.halt  (scope: the symbol or account)
        "halt trading on AAPL", "stop trading"
    resume trading [on SYMBOL]                                   -> trading.resume
        "resume trading"
    cancel (all) (open) orders [for SYMBOL]                      -> orders.cancel
        "cancel all open orders for MSFT"
    set | override the posture to POSTURE [until WHEN] | go POSTURE [until WHEN]  -> posture.override
        "set the posture to defensive until Friday", "go defensive until tomorrow"
    clear the posture override                                   -> posture.clear
        "clear the posture override"
    tighten | loosen | set the LIMIT limit to N %                -> limits.set
        "tighten the daily loss limit to 2 %", "loosen the concentration limit to 25 %"
    backtest STRATEGY on SYMBOL for YEAR | from DAY to DAY       -> backtest.run
        "backtest growth on MSFT for 2016", "backtest value on SPY from 2015-01-01 to 2015-06-30"
    run the SET eval | run eval set SET                          -> eval.run
        "run the development eval", "run eval set holdout"

    OUTCOME   vetoed, rejected, blocked, ordered (bought, sold), held, skipped, screened out, applied,
              execution failed, awaiting approval (pending), answered
    PROFILE   conservative, moderate, aggressive (no profile in a proposal: the tool's default, moderate)
    POSTURE   offensive, guerrilla, defensive
    LIMIT     daily loss, concentration, gross exposure (or exposure), price band; N in percent
    WHEN      a weekday (its next occurrence after today, at 00:00 UTC), "tomorrow", a DAY [HH:MM] (UTC);
              "for N minutes | hours | days | weeks" counts from facts.now; it must lie in the future
    YEAR      1 January to 31 December of that year

Several requests joined by "and", "then", ",", ";" or sentence ends give several steps: "show the positions
and the p&l", "halt trading on AAPL; cancel the orders for AAPL". A step depends on another only when it
needs its result (a rebalance on its proposal); an identical read-only step asked twice is planned once.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from agents.llm.sena_forms import Draft, read_clause
from agents.llm.sena_words import GrammarError, Vocabulary
from agents.sena import Plan, PlanStep
from prompts.loader import ExternalText
from tools.registry.catalog import SPECS_BY_NAME
from tools.registry.spec import ToolError

REQUEST_SOURCE = "operator_request"
MAX_REQUEST_CHARS = 2000  # a parser guard: an operator's command is a sentence or two, not a document
MAX_STEPS = 12  # `agents.sena.Plan.steps`
FORMS_SHORT = (
    "show positions [of BOT | for SYMBOL]; show p&l; show [unacknowledged] alerts; "
    "show [OUTCOME] decisions [for SYMBOL] [on DAY]; why was SYMBOL OUTCOME on DAY; explain decision ID; "
    "analyse the portfolio; propose a PROFILE rebalance; rebalance at the PROFILE level; "
    "stop | resume the BOT bot [until WHEN]; halt | resume trading [on SYMBOL]; cancel orders [for SYMBOL]; "
    "set the posture to POSTURE [until WHEN]; clear the posture override; "
    "tighten | loosen the LIMIT limit to N %; backtest STRATEGY on SYMBOL for YEAR; run the SET eval"
)

_SEPARATOR = re.compile(
    r"\s*;\s*"
    r"|[.!?]+\s+"
    r"|\s*,\s*(?:(?:and then|and|then)\s+)?"
    r"|\s+(?:and then|then)\s+"
    # "and" joins two requests, except inside "profit and loss", "p and l" and "between DAY and DAY"
    r"|(?<!\bprofit)(?<!\bp)\s+and\s+(?!loss\b|l\b|\d{4}-\d{2}-\d{2}\b)",
    re.IGNORECASE | re.ASCII,
)
_LEADING = re.compile(
    r"^(?:please|pls|kindly|(?:can|could|would|will) you(?: please)?|i(?: would|'d) like you to|i want you to"
    r"|sena,?|aegis,?|and|then|also)\s+",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"(?:[\s,]+(?:please|now|right now|immediately))+$|[\s.!?]+$", re.IGNORECASE)


def sena_policy(facts: Mapping[str, Any], texts: Sequence[ExternalText]) -> dict[str, Any]:
    """The plan of the operator's request, as the JSON of an `agents.sena.Plan` (never raises for any text)."""
    return plan_request(request_text(texts), facts).model_dump(mode="json")


def request_text(texts: Sequence[ExternalText]) -> str:
    """The operator's request among the quoted texts (several are joined as several requests)."""
    return " ; ".join(text.text for text in texts if text.source == REQUEST_SOURCE)


def plan_request(text: str, facts: Mapping[str, Any]) -> Plan:
    """The plan of one request's text under the facts: every clause planned, or no step and why."""
    request = " ".join(unicodedata.normalize("NFKC", text).split())
    quoted = _shorten(request, 200)
    feedback = facts.get("feedback")
    if feedback:
        said = "; ".join(str(reason) for reason in feedback) if isinstance(feedback, list) else str(feedback)
        return _unsupported(
            quoted,
            "the command grammar cannot revise a plan (it plans the words as written); "
            f"Lubit's reasons: {_shorten(said, 500)}. Rephrase the request",
            with_forms=False,
        )
    if not request:
        return _unsupported(quoted, "there is no operator request to plan")
    if len(request) > MAX_REQUEST_CHARS:
        return _unsupported(quoted, f"the request is {len(request)} characters long; the grammar reads at most "
                            f"{MAX_REQUEST_CHARS}")  # fmt: skip
    vocabulary = Vocabulary.from_facts(facts)
    clauses = split_clauses(request)
    problems: list[str] = []
    read: list[tuple[str, list[Draft]]] = []
    for clause in clauses:
        try:
            drafts = read_clause(clause, vocabulary)
            for draft in drafts:
                _check_tool(draft, vocabulary)
            read.append((clause, drafts))
        except GrammarError as exc:
            problems.append(str(exc))
    if not clauses:
        problems.append("there is no operator request to plan")
    if problems:
        return _unsupported(quoted, "not understood: " + "; ".join(dict.fromkeys(problems)))
    return _assemble(quoted, read)


def split_clauses(request: str) -> list[str]:
    """The clauses of a request: its parts joined by "and", "then", ",", ";" or a sentence end, trimmed."""
    clauses = []
    for part in _SEPARATOR.split(request):
        clause, previous = part.strip(), None
        while clause != previous:
            previous = clause
            clause = _TRAILING.sub("", _LEADING.sub("", clause)).strip()
        if clause:
            clauses.append(clause)
    return clauses


def _check_tool(draft: Draft, vocabulary: Vocabulary) -> None:
    if draft.tool not in vocabulary.tools or draft.tool not in SPECS_BY_NAME:
        raise GrammarError(f"the tool {draft.tool} is not in the registry the facts list")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unsupported(quoted: str, why: str, *, with_forms: bool = True) -> Plan:
    forms = f". Forms: {FORMS_SHORT}" if with_forms else ""
    return Plan(
        summary=f"nothing planned for the request {quoted!r}",
        unsupported=_shorten(why, 1000 - len(forms)) + forms,
    )


def _assemble(quoted: str, read: list[tuple[str, list[Draft]]]) -> Plan:
    steps: list[PlanStep] = []
    evidence: list[str] = []
    planned: dict[str, str] = {}  # a read-only step's tool and arguments -> its id: asked twice, planned once
    for clause, drafts in read:
        ids: list[str] = []
        for draft in drafts:
            spec = SPECS_BY_NAME[draft.tool]
            args = dict(draft.args)
            if "reason" in spec.args.model_fields:
                args["reason"] = f"operator request: {_shorten(clause, 200)}"
            try:
                spec.parse(args)
            except ToolError as exc:
                return _unsupported(quoted, f"not understood: {clause!r}: {exc}")
            key = f"{draft.tool} {json.dumps(args, sort_keys=True)}"
            if not spec.mutates and key in planned:
                ids.append(planned[key])
                continue
            step_id = f"s{len(steps) + 1}"
            if len(steps) == MAX_STEPS:
                return _unsupported(quoted, f"the request asks for more than {MAX_STEPS} steps; a plan holds at "
                                    f"most {MAX_STEPS}: split it")  # fmt: skip
            depends_on = [ids[index] for index in draft.after]
            steps.append(PlanStep(id=step_id, tool=draft.tool, args=args, depends_on=depends_on, why=draft.why))
            evidence.append(_shorten(f"{step_id} {draft.tool} rests on the words {_shorten(clause, 160)!r}", 300))
            ids.append(step_id)
            planned.setdefault(key, step_id)
    tools = ", ".join(step.tool for step in steps)
    summary = f"{len(steps)} step{'s' if len(steps) != 1 else ''} for the request {quoted!r}: {tools}"
    return Plan(summary=_shorten(summary, 1000), steps=steps, evidence=evidence)
