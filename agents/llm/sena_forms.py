"""The forms of Sena's command grammar: which words make which registry tool's step, with which arguments.

Each `Form` is a few regular expressions, matched case-insensitively against the WHOLE of one clause of
a request (`fullmatch`: a word the form does not know makes the clause not understood, so no extra text can
ride along), and a builder that turns the matched words into `Draft` steps. The builders resolve every name
through `Vocabulary` (unknown bots, symbols, strategies and eval sets are refused) and never execute or
evaluate anything of the text. The forms are data, looked up in order: the reference of the grammar is the
docstring of `agents.llm.sena_grammar`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agents.llm.sena_words import (
    DAY_PATTERN,
    LIMIT_WORDS,
    OUTCOME_WORDS,
    POSTURE_WORDS,
    PROFILE_WORDS,
    GrammarError,
    Vocabulary,
)

Words = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class Draft:
    """One step as the words ask for it, before the plan gives it an id (and a reason when it mutates)."""

    tool: str
    args: dict[str, Any]
    why: str
    after: tuple[int, ...] = field(default=())  # drafts of the same clause whose result this one needs


Builder = Callable[[Words, Vocabulary], list[Draft]]


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    patterns: tuple[re.Pattern[str], ...]
    build: Builder


def _alternatives(words: Mapping[str, str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


THE = r"(?:(?:the|my|our) )?"
SHOW = r"(?:show|list|display|get|give me|what are|what is|what's|whats)"
NAME = r"(?!(?:the|a|an|my|our|all)\b)[^ ]+"  # one word that is not an article
DAY = r"(?:" + DAY_PATTERN + r"|today|yesterday)"
EVENT_ID = r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}"
WHEN = r"(?P<when> (?:until|till|through|for) .+)?"
OUTCOMES = _alternatives(OUTCOME_WORDS)
PROFILES = _alternatives(PROFILE_WORDS)
POSTURES = _alternatives(POSTURE_WORDS)
LIMITS = _alternatives(LIMIT_WORDS)
_STOP = r"(?:stop|pause|halt|disable|suspend|deactivate)"
_START = r"(?:resume|restart|start|unpause|enable|re-enable|reactivate)"
_BACKTEST = rf"(?:backtest|back-test|back test|run a backtest (?:of|for)) {THE}(?P<strategy>{NAME})(?: strategy)? (?:on|for|with|against) (?P<symbol>{NAME})"  # noqa: E501


def _compile(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern, re.IGNORECASE | re.ASCII) for pattern in patterns)  # ASCII: \d is 0-9


def _key(words: Words, name: str) -> str:
    return (words.get(name) or "").casefold()


# --- the builders: matched words -> drafts ------------------------------------------------------------------


def _positions(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    target = words.get("target")
    if target is None:
        return [Draft("positions.show", {}, "the open positions")]
    if words.get("botword"):
        kind, name = "bot_id", vocabulary.bot(target)
    else:
        kind, name = vocabulary.bot_or_symbol(target, bot_first=_key(words, "prep") == "of")
    label = "bot" if kind == "bot_id" else "symbol"
    return [Draft("positions.show", {kind: name}, f"the open positions of {label} {name}")]


def _pnl(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    return [Draft("pnl.show", {}, "the account's P&L")]


def _limit(words: Words) -> dict[str, int]:
    count = words.get("n")
    return {"limit": int(count)} if count else {}


def _alerts(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    unacknowledged = bool(words.get("unack"))
    args: dict[str, Any] = {**_limit(words), **({"unacknowledged_only": True} if unacknowledged else {})}
    return [Draft("alerts.list", args, "the unacknowledged alerts" if unacknowledged else "the recent alerts")]


def _decisions(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    args: dict[str, Any] = _limit(words)
    if words.get("outcome"):
        args["outcome"] = OUTCOME_WORDS[_key(words, "outcome")]
    if words.get("symbol"):
        args["symbol"] = vocabulary.symbol(words["symbol"] or "")
    if words.get("day"):
        args["day"] = vocabulary.day(words["day"] or "").isoformat()
    filters = ", ".join(f"{key} {value}" for key, value in args.items() if key != "limit")
    return [Draft("decisions.query", args, "the recorded decisions" + (f" ({filters})" if filters else ""))]


def _explain(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    if words.get("event"):
        event_id = words["event"] or ""
        return [Draft("decisions.explain", {"event_id": event_id}, f"explain decision {event_id} from its record")]
    symbol = vocabulary.symbol(words["symbol"] or "")
    outcome = OUTCOME_WORDS[_key(words, "outcome")] if words.get("outcome") else None
    if not words.get("day"):
        said = words.get("outcome") or "decided"
        raise GrammarError(f"name the day of the decision: why was {symbol} {said} on YYYY-MM-DD")
    day = vocabulary.day(words["day"] or "").isoformat()
    args: dict[str, Any] = {"symbol": symbol, "day": day, **({"outcome": outcome} if outcome else {})}
    said = f"the {outcome} decision" if outcome else "the decision"
    return [Draft("decisions.explain", args, f"explain {said} on {symbol} of {day}")]


def _analyse(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    return [Draft("portfolio.analyse", {}, "the bots as a portfolio: scorecards, correlation, risk contributions")]


def _profile(words: Words) -> str | None:
    named = {PROFILE_WORDS[_key(words, key)] for key in ("profile", "level") if words.get(key)}
    if len(named) > 1:
        raise GrammarError(f"two risk profiles named: {' and '.join(sorted(named))}")
    return next(iter(named), None)


def _propose(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    profile = _profile(words)
    if profile is None:
        return [Draft("portfolio.propose", {}, "the allocation the default risk profile would give")]
    return [Draft("portfolio.propose", {"profile": profile}, f"the allocation the {profile} profile would give")]


def _rebalance(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    profile = _profile(words)
    if profile is None:
        raise GrammarError("name the risk profile of the rebalance: conservative, moderate or aggressive")
    return [
        Draft("portfolio.propose", {"profile": profile}, f"the {profile} allocation, for the rebalance to apply"),
        Draft(
            "portfolio.rebalance",
            {"profile": profile},
            f"apply the {profile} allocation once it is proposed",
            after=(0,),
        ),
    ]


def _until(words: Words, vocabulary: Vocabulary) -> tuple[dict[str, str], str]:
    phrase = words.get("when")
    if not phrase:
        return {}, ""
    at = vocabulary.until(phrase)
    return {"until": at.isoformat()}, f" {phrase.strip()} ({at.isoformat()})"


def _bot_stop(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    bot = vocabulary.bot(words["bot"] or "")
    until, said = _until(words, vocabulary)
    return [Draft("bot.stop", {"bot_id": bot, **until}, f"stop bot {bot}{said}")]


def _bot_resume(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    bot = vocabulary.bot(words["bot"] or "")
    return [Draft("bot.resume", {"bot_id": bot}, f"resume bot {bot}")]


def _scope(words: Words, vocabulary: Vocabulary) -> str:
    word = words.get("symbol")
    if word is None or word.casefold() == "account":
        return "account"
    return vocabulary.symbol(word)


def _halt(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    scope = _scope(words, vocabulary)
    return [Draft("trading.halt", {"scope": scope}, f"halt trading ({scope}) and cancel its open orders")]


def _resume_trading(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    scope = _scope(words, vocabulary)
    return [Draft("trading.resume", {"scope": scope}, f"resume trading ({scope}) after a halt")]


def _cancel(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    if words.get("symbol") is None:
        return [Draft("orders.cancel", {}, "cancel all open orders")]
    symbol = vocabulary.symbol(words["symbol"] or "")
    return [Draft("orders.cancel", {"symbol": symbol}, f"cancel the open orders of {symbol}")]


def _posture(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    posture = POSTURE_WORDS[_key(words, "posture")]
    until, said = _until(words, vocabulary)
    return [Draft("posture.override", {"posture": posture, **until}, f"override the posture to {posture}{said}")]


def _posture_clear(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    return [Draft("posture.clear", {}, "clear the posture override: the evaluated posture applies again")]


def _limits(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    name = LIMIT_WORDS[_key(words, "limit")]
    value = float(words["value"] or "")
    verb = _key(words, "verb")
    return [Draft("limits.set", {"name": name, "value": value}, f"{verb} {name} to {value:g} %")]


def _backtest(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    strategy = vocabulary.strategy(words["strategy"] or "")
    symbol = vocabulary.symbol(words["symbol"] or "")
    if words.get("year"):
        year = int(words["year"] or "")
        if not 1900 <= year <= 2100:
            raise GrammarError(f"{year} is not a year to backtest")
        start, end = date(year, 1, 1), date(year, 12, 31)
    elif words.get("start") and words.get("end"):
        start, end = vocabulary.day(words["start"] or ""), vocabulary.day(words["end"] or "")
    else:
        raise GrammarError(f"name the period of the backtest: for YEAR, or from DAY to DAY ({strategy} on {symbol})")
    args = {"strategy": strategy, "symbol": symbol, "start": start.isoformat(), "end": end.isoformat()}
    return [Draft("backtest.run", args, f"backtest {strategy} on {symbol} from {start} to {end}")]


def _eval(words: Words, vocabulary: Vocabulary) -> list[Draft]:
    name = vocabulary.eval_set(words["set"] or "")
    return [Draft("eval.run", {"set_name": name}, f"replay the {name} eval set with the rules baseline")]


# --- the forms, in the order they are tried -----------------------------------------------------------------

FORMS: tuple[Form, ...] = (
    Form("positions", _compile(
        rf"(?:{SHOW} )?{THE}(?:open |current )?positions"
        rf"(?: (?P<prep>of|for|in|on) (?:the )?(?P<target>.+?)(?P<botword> bot)?)?",
    ), _positions),
    Form("pnl", _compile(
        rf"(?:{SHOW} )?{THE}(?:p&l|p & l|pnl|p/l|p and l|profit(?: and loss| & loss)?|profits)",
    ), _pnl),
    Form("alerts", _compile(
        rf"(?:{SHOW} )?{THE}(?:(?:last|latest) (?P<n>\d{{1,3}}) )?"
        r"(?P<unack>(?:unacknowledged|unacked|open|new|pending) )?alerts",
    ), _alerts),
    Form("decisions", _compile(
        rf"(?:{SHOW} )?{THE}(?:(?:last|latest) (?P<n>\d{{1,3}}) )?(?:(?P<outcome>{OUTCOMES}) )?decisions"
        rf"(?: (?:for|of|about|on) (?!{DAY}\b)(?P<symbol>{NAME}))?(?: (?:on |for |of )?(?P<day>{DAY}))?",
    ), _decisions),
    Form("explain", _compile(
        rf"why (?:was|were|did|is) {THE}(?P<symbol>{NAME})(?: (?:trade|order|signal|decision|entry))? "
        rf"(?:get |be )?(?P<outcome>{OUTCOMES})(?: (?:on|for) (?P<day>{DAY}))?",
        rf"explain {THE}(?P<symbol>{NAME})(?: (?P<outcome>{OUTCOMES}))? decision (?:on|of|for|from) (?P<day>{DAY})",
        rf"explain {THE}(?:decision|event) (?P<event>{EVENT_ID})",
        rf"explain (?P<event>(?=[^ ]*\d){EVENT_ID})",
    ), _explain),
    Form("analyse", _compile(
        rf"(?:analy[sz]e|review|assess) {THE}portfolio",
        rf"(?:{SHOW} )?{THE}(?:portfolio analysis|analysis of the portfolio)",
    ), _analyse),
    Form("propose", _compile(
        rf"(?:propose|suggest|draft) (?:a |an |the )?(?:(?P<profile>{PROFILES}) )?(?:rebalance|rebalancing|allocation)"
        rf"(?: (?:at|to|with) (?:the |a |an )?(?P<level>{PROFILES})(?: level| profile| risk profile)?)?",
        rf"what would (?:a |an |the )?(?P<profile>{PROFILES}) (?:allocation|rebalance|portfolio|profile) "
        r"(?:be|look like|give)",
    ), _propose),
    Form("rebalance", _compile(
        rf"rebalance(?: {THE}(?:portfolio|bots|allocations?))?(?: (?:at|to|with|on) (?:the |a |an )?"
        rf"(?P<profile>{PROFILES})(?: level| profile| risk level| risk profile| allocation)?)?",
        rf"rebalance(?: {THE}(?:portfolio|bots))? (?P<profile>{PROFILES})ly",
        rf"apply (?:a |an |the )?(?P<profile>{PROFILES}) (?:allocation|rebalance|profile)",
    ), _rebalance),
    Form("bot.stop", _compile(
        rf"{_STOP} (?:the )?(?P<bot>.+?) bot{WHEN}",
        rf"{_STOP} (?:the )?bot (?P<bot>[^ ]+){WHEN}",
    ), _bot_stop),
    Form("bot.resume", _compile(
        rf"{_START} (?:the )?(?P<bot>.+?) bot",
        rf"{_START} (?:the )?bot (?P<bot>[^ ]+)",
    ), _bot_resume),
    Form("trading.halt", _compile(
        rf"(?:halt|stop|suspend|pause|freeze) (?:all )?trading(?: (?:on|in|for|of) (?:the )?(?P<symbol>{NAME}))?",
        rf"(?:hit|pull|engage|trigger|flip) {THE}kill switch",
    ), _halt),
    Form("trading.resume", _compile(
        rf"(?:resume|restart|unhalt|unfreeze|reopen) (?:all )?trading"
        rf"(?: (?:on|in|for|of) (?:the )?(?P<symbol>{NAME}))?",
    ), _resume_trading),
    Form("orders.cancel", _compile(
        rf"(?:cancel|pull|withdraw) (?:all )?(?:of )?{THE}(?:open |pending |working |outstanding |resting )?orders"
        rf"(?: (?:for|on|in|of) (?:the )?(?P<symbol>{NAME}))?",
    ), _cancel),
    Form("posture.override", _compile(
        rf"(?:set|override|change|switch|put) {THE}posture(?: override)? (?:to|at|as) "
        rf"(?P<posture>{POSTURES})(?: posture)?{WHEN}",
        rf"go (?P<posture>{POSTURES}){WHEN}",
        rf"(?:switch|move|change|go) to {THE}(?P<posture>{POSTURES})(?: posture| mode)?{WHEN}",
    ), _posture),
    Form("posture.clear", _compile(
        rf"(?:clear|remove|cancel|lift|drop|end|reset) {THE}(?:posture override|posture|override)",
    ), _posture_clear),
    Form("limits.set", _compile(
        rf"(?P<verb>tighten|loosen|set|lower|raise|reduce|increase|change|cut|widen|relax) {THE}"
        rf"(?:(?:max|maximum) )?(?P<limit>{LIMITS})(?: limit)? to (?P<value>\d{{1,3}}(?:\.\d{{1,4}})?)"
        r" ?(?:%|percent|per cent|pct)?",
    ), _limits),
    Form("backtest", _compile(
        rf"{_BACKTEST} (?:for|in|over|during) (?P<year>\d{{4}})",
        rf"{_BACKTEST} from (?P<start>{DAY}) (?:to|until|till|through) (?P<end>{DAY})",
        rf"{_BACKTEST} between (?P<start>{DAY}) and (?P<end>{DAY})",
        _BACKTEST,
    ), _backtest),
    Form("eval", _compile(
        rf"(?:run|replay|score) {THE}(?P<set>{NAME}) (?:eval|evaluation|evals)(?: set)?",
        rf"(?:run|replay|score) {THE}(?:eval|evaluation) set (?P<set>{NAME})",
    ), _eval),
)  # fmt: skip


def read_clause(clause: str, vocabulary: Vocabulary) -> list[Draft]:
    """The drafts one clause asks for: the first form one of whose patterns matches all of it.

    Raises `GrammarError` (one line, naming the clause or the unknown name) when no form matches or a name
    or value the form holds is refused.
    """
    for form in FORMS:
        for pattern in form.patterns:
            match = pattern.fullmatch(clause)
            if match is not None:
                return form.build(match.groupdict(), vocabulary)
    quoted = clause if len(clause) <= 120 else clause[:119] + "…"
    raise GrammarError(f"{quoted!r} is no form of the grammar")
