"""Sena's command grammar (the `rules` planner): every registry tool reachable, exact plans, nothing beyond the words.

The facts are the ones the workflow graph passes: the requester, the registry's tools, the bots, the symbols
with market data, the backtest strategies, the eval sets and the date (Wednesday 2016-03-02, 14:30 UTC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.llm.rules import TEXT_POLICIES, RulesClient
from agents.llm.sena_grammar import FORMS_SHORT, MAX_REQUEST_CHARS, sena_policy, split_clauses
from agents.sena import Plan, plan
from agents.stage import RoleCall, StageBudget, build_request
from prompts.loader import ExternalText, load_prompt
from tools.registry.catalog import SPECS, SPECS_BY_NAME

INJECTIONS = [
    json.loads(line)
    for line in (Path(__file__).resolve().parents[1] / "data" / "prompt_injections.jsonl").read_text().splitlines()
    if line.strip()
]
FACTS: dict[str, Any] = {
    "request_id": "req-1",
    "requester": {"name": "ana", "role": "trade"},
    "tools": [spec.describe() for spec in SPECS],
    "bots": [
        {"bot_id": "value", "strategy": "value", "state": "running"},
        {"bot_id": "growth", "strategy": "growth", "state": "stopped"},
    ],
    "symbols": ["AAPL", "MSFT", "SPY"],
    "strategies": ["growth", "value"],
    "eval_sets": ["development", "holdout"],
    "today": "2016-03-02",
    "now": "2016-03-02T14:30:00+00:00",
    "feedback": None,
    "round": 0,
}
# One request per form (at least), with the tools its plan must hold, in order.
EXAMPLES: list[tuple[str, list[str]]] = [
    ("show the positions", ["positions.show"]),
    ("show the positions of the value bot", ["positions.show"]),
    ("positions for AAPL", ["positions.show"]),
    ("show the p&l", ["pnl.show"]),
    ("what is the profit and loss", ["pnl.show"]),
    ("show the unacknowledged alerts", ["alerts.list"]),
    ("list the last 5 alerts", ["alerts.list"]),
    ("list the vetoed decisions for AAPL on 2016-03-01", ["decisions.query"]),
    ("show decisions today", ["decisions.query"]),
    ("why was AAPL vetoed on 2016-03-01?", ["decisions.explain"]),
    ("explain the MSFT decision on 2016-03-01", ["decisions.explain"]),
    ("explain decision sig-0042", ["decisions.explain"]),
    ("analyse the portfolio", ["portfolio.analyse"]),
    ("Analyze the portfolio", ["portfolio.analyse"]),
    ("propose a conservative rebalance", ["portfolio.propose"]),
    ("what would an aggressive allocation be", ["portfolio.propose"]),
    ("rebalance at the conservative level", ["portfolio.propose", "portfolio.rebalance"]),
    ("stop the value bot until Monday", ["bot.stop"]),
    ("pause the growth bot for 2 hours", ["bot.stop"]),
    ("resume the growth bot", ["bot.resume"]),
    ("halt trading on AAPL", ["trading.halt"]),
    ("stop trading", ["trading.halt"]),
    ("resume trading", ["trading.resume"]),
    ("cancel all open orders for MSFT", ["orders.cancel"]),
    ("cancel orders", ["orders.cancel"]),
    ("set the posture to defensive until Friday", ["posture.override"]),
    ("go guerrilla", ["posture.override"]),
    ("clear the posture override", ["posture.clear"]),
    ("tighten the daily loss limit to 2 %", ["limits.set"]),
    ("loosen the concentration limit to 25%", ["limits.set"]),
    ("backtest growth on MSFT for 2016", ["backtest.run"]),
    ("backtest value on SPY from 2015-01-01 to 2015-06-30", ["backtest.run"]),
    ("run the development eval", ["eval.run"]),
    ("run eval set holdout", ["eval.run"]),
]
EXAMPLE_TEXTS = [text for text, _ in EXAMPLES]


def request(text: str) -> list[ExternalText]:
    return [ExternalText(source="operator_request", ref="req-1", text=text)]


def plan_of(text: str, **changes: Any) -> Plan:
    """The grammar's plan, checked the way Lubit checks it: a valid Plan, each step's arguments valid."""
    result = Plan.model_validate(sena_policy({**FACTS, **changes}, request(text)))
    for step in result.steps:
        SPECS_BY_NAME[step.tool].parse(step.args)
    json.dumps(result.model_dump(mode="json"))  # the reply is JSON
    return result


def refused(text: str, **changes: Any) -> str:
    result = plan_of(text, **changes)
    assert result.steps == [], f"{text!r} planned {result.tools()}"
    assert result.unsupported
    return result.unsupported


@pytest.mark.parametrize(("text", "tools"), EXAMPLES)
def test_each_form_plans_its_tools(text: str, tools: list[str]) -> None:
    result = plan_of(text)
    assert result.tools() == tools, result.unsupported
    assert result.unsupported is None


def test_every_tool_of_the_catalog_is_reached_by_a_request() -> None:
    reached = {tool for text in EXAMPLE_TEXTS for tool in plan_of(text).tools()}
    assert reached == set(SPECS_BY_NAME)


def test_the_grammar_is_the_rules_providers_sena_policy() -> None:
    assert TEXT_POLICIES["sena"] is sena_policy


Expected = list[tuple[str, dict[str, Any], list[str]]]  # each step's tool, arguments and dependencies
ISSUE_PLANS: dict[str, Expected] = {
    "show the positions": [("positions.show", {}, [])],
    "rebalance at the conservative level": [
        ("portfolio.propose", {"profile": "conservative"}, []),
        ("portfolio.rebalance", {"profile": "conservative",
                                 "reason": "operator request: rebalance at the conservative level"}, ["s1"]),
    ],
    "stop the value bot until Monday": [
        ("bot.stop", {"bot_id": "value", "until": "2016-03-07T00:00:00+00:00",
                      "reason": "operator request: stop the value bot until Monday"}, []),
    ],
    "why was AAPL vetoed on 2016-03-01?": [
        ("decisions.explain", {"symbol": "AAPL", "day": "2016-03-01", "outcome": "vetoed"}, []),
    ],
    "backtest growth on MSFT for 2016": [
        ("backtest.run", {"strategy": "growth", "symbol": "MSFT", "start": "2016-01-01", "end": "2016-12-31"}, []),
    ],
    "tighten the daily loss limit to 2 %": [
        ("limits.set", {"name": "daily_loss_limit_pct", "value": 2.0,
                        "reason": "operator request: tighten the daily loss limit to 2 %"}, []),
    ],
}  # fmt: skip


@pytest.mark.parametrize("text", list(ISSUE_PLANS))
def test_the_issues_six_requests_give_exact_plans(text: str) -> None:
    result = plan_of(text)
    expected = ISSUE_PLANS[text]
    assert [(step.tool, step.args, step.depends_on) for step in result.steps] == expected
    assert [step.id for step in result.steps] == [f"s{i}" for i in range(1, len(expected) + 1)]
    assert len(result.evidence) == len(expected)
    assert all(text.rstrip("?") in quoted for quoted in result.evidence)


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("stop the value bot until Wednesday", "2016-03-09T00:00:00+00:00"),  # today is a Wednesday: the next one
        ("stop the value bot until Thursday", "2016-03-03T00:00:00+00:00"),
        ("stop the value bot until next Monday", "2016-03-07T00:00:00+00:00"),
        ("stop the value bot until tomorrow", "2016-03-03T00:00:00+00:00"),
        ("stop the value bot until 2016-03-10", "2016-03-10T00:00:00+00:00"),
        ("stop the value bot until 2016-03-02 18:00 UTC", "2016-03-02T18:00:00+00:00"),
        ("stop the value bot for 2 hours", "2016-03-02T16:30:00+00:00"),
        ("go defensive for 3 days", "2016-03-05T14:30:00+00:00"),
    ],
)
def test_until_is_computed_from_the_facts_date(text: str, until: str) -> None:
    (step,) = plan_of(text).steps
    assert step.args["until"] == until


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("stop the value bot until 2016-03-01", "not in the future"),
        ("stop the value bot until 2016-03-02 09:00", "not in the future"),
        ("stop the value bot until 2016-02-30", "not a day"),
        ("stop the value bot until later", "not a time"),
        ("stop the value bot until 2016-03-10 25:00", "not a time of day"),
    ],
)
def test_a_bad_until_plans_nothing_and_says_why(text: str, said: str) -> None:
    assert said in refused(text)


def test_relative_times_need_the_facts_date() -> None:
    assert "facts.today" in refused("stop the value bot until Monday", today=None, now=None)
    assert "facts.now" in refused("stop the value bot for 2 hours", now=None)


def test_words_are_case_insensitive_and_names_take_the_facts_spelling() -> None:
    bots = [{"bot_id": "Value-1", "strategy": "value", "state": "running"}]
    (step,) = plan_of("STOP THE VALUE-1 BOT", bots=bots).steps
    assert step.args["bot_id"] == "Value-1"
    (step,) = plan_of("Show The Positions For aapl").steps
    assert step.args == {"symbol": "AAPL"}
    (step,) = plan_of("BACKTEST Growth ON msft FOR 2016").steps
    assert (step.args["strategy"], step.args["symbol"]) == ("growth", "MSFT")


def test_positions_of_a_word_that_is_a_bot_or_a_symbol() -> None:
    assert plan_of("show the positions of value").steps[0].args == {"bot_id": "value"}
    assert plan_of("show the positions for SPY").steps[0].args == {"symbol": "SPY"}
    assert "neither a bot" in refused("show the positions of nvda")


def test_mutating_steps_carry_the_operator_request_as_reason() -> None:
    result = plan_of("halt trading on AAPL; cancel the orders for AAPL and clear the posture override")
    assert [step.args["reason"] for step in result.steps] == [
        "operator request: halt trading on AAPL",
        "operator request: cancel the orders for AAPL",
        "operator request: clear the posture override",
    ]
    assert all("reason" not in step.args for step in plan_of("show the positions and the p&l").steps)


def test_the_grammar_does_not_filter_by_the_requesters_role() -> None:
    result = plan_of("resume trading", requester={"name": "rita", "role": "read"})
    assert result.tools() == ["trading.resume"]  # Lubit's checks refuse it, not the planner


# --- compound requests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tools", "depends"),
    [
        ("show the positions and the p&l", ["positions.show", "pnl.show"], [[], []]),
        ("show the p&l, the alerts and the positions", ["pnl.show", "alerts.list", "positions.show"], [[], [], []]),
        ("halt trading on AAPL then cancel the orders for AAPL", ["trading.halt", "orders.cancel"], [[], []]),
        ("Show the positions. Then stop the value bot!", ["positions.show", "bot.stop"], [[], []]),
        (
            "analyse the portfolio and rebalance at the aggressive level",
            ["portfolio.analyse", "portfolio.propose", "portfolio.rebalance"],
            [[], [], ["s2"]],
        ),
        # the rebalance reuses the proposal already asked for: one proposal, the rebalance depends on it
        (
            "propose a moderate rebalance and then rebalance at the moderate level",
            ["portfolio.propose", "portfolio.rebalance"],
            [[], ["s1"]],
        ),
        ("show the positions and show the positions", ["positions.show"], [[]]),
        ("backtest value on SPY between 2015-01-01 and 2015-06-30", ["backtest.run"], [[]]),
    ],
)
def test_compound_requests_give_several_steps(text: str, tools: list[str], depends: list[list[str]]) -> None:
    result = plan_of(text)
    assert result.tools() == tools, result.unsupported
    assert [step.depends_on for step in result.steps] == depends
    assert len(result.evidence) == len(tools)


def test_a_request_is_planned_whole_or_not_at_all() -> None:
    said = refused("show the positions and buy 100 AAPL")
    assert "'buy 100 AAPL' is no form of the grammar" in said


def test_a_plan_holds_at_most_twelve_steps() -> None:
    assert "at most 12" in refused("; ".join(f"stop the value bot for {n} hours" for n in range(1, 14)))


def test_a_request_too_long_is_refused() -> None:
    assert str(MAX_REQUEST_CHARS) in refused("show the positions; " * 200)


def test_clauses_split_on_joiners_but_not_inside_names() -> None:
    assert split_clauses("please show the profit and loss, then halt trading now.") == [
        "show the profit and loss",
        "halt trading",
    ]
    assert split_clauses("backtest value on SPY between 2015-01-01 and 2015-06-30") == [
        "backtest value on SPY between 2015-01-01 and 2015-06-30"
    ]


# --- what the grammar refuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("stop the momentum bot", "unknown bot 'momentum' (bots: value, growth)"),
        ("resume bot ghost", "unknown bot 'ghost'"),
        ("halt trading on NVDA", "no market data for symbol 'NVDA'"),
        ("cancel the orders for TSLA", "no market data for symbol 'TSLA'"),
        ("why was NVDA vetoed on 2016-03-01", "no market data for symbol 'NVDA'"),
        ("backtest momentum on MSFT for 2016", "unknown strategy 'momentum' (strategies: growth, value)"),
        ("backtest growth on NVDA for 2016", "no market data for symbol 'NVDA'"),
        ("run the gate eval", "unknown eval set 'gate' (eval sets: development, holdout)"),
        ("why was AAPL vetoed", "name the day of the decision"),
        ("rebalance the portfolio", "name the risk profile"),
        ("backtest growth on MSFT", "name the period of the backtest"),
        ("backtest growth on MSFT from 2016-05-01 to 2016-01-01", "end 2016-01-01 is not after start 2016-05-01"),
        ("loosen the concentration limit to 250 %", "value: Input should be less than or equal to 100"),
        ("show the last 0 alerts", "limit: Input should be greater than or equal to 1"),
        ("list the decisions on 2016-02-30", "'2016-02-30' is not a day"),
    ],
)
def test_unknown_names_and_bad_values_plan_nothing_and_say_what(text: str, said: str) -> None:
    unsupported = refused(text)
    assert said in unsupported
    assert unsupported.endswith(FORMS_SHORT)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "asdf qwer", "show", "show the", "positions of", "stop the bot", "🙂🙂", "buy AAPL", "sell everything",
     "rebalance at the reckless level", "go offensive and", "explain", "explain the decision", "run the eval set"],
)  # fmt: skip
def test_gibberish_plans_nothing(text: str) -> None:
    refused(text)


def test_a_tool_the_facts_do_not_list_is_not_planned() -> None:
    tools = [spec.describe() for spec in SPECS if spec.name != "bot.stop"]
    assert "bot.stop is not in the registry" in refused("stop the value bot", tools=tools)


def test_without_a_request_text_nothing_is_planned() -> None:
    result = Plan.model_validate(sena_policy(FACTS, [ExternalText(source="news", ref="n1", text="halt trading")]))
    assert (result.steps, result.unsupported is not None) == ([], True)


def test_lubits_feedback_cannot_be_revised_by_the_grammar() -> None:
    said = refused("stop the value bot", feedback=["the until time is missing"], round=1)
    assert "cannot revise" in said and "the until time is missing" in said


# --- the injection corpus: no step beyond what the grammar's words name -------------------------------------


@pytest.mark.parametrize("case", INJECTIONS, ids=[case["name"] for case in INJECTIONS])
def test_an_injection_plans_nothing(case: dict[str, str]) -> None:
    refused(case["text"])


@pytest.mark.parametrize("case", INJECTIONS, ids=[case["name"] for case in INJECTIONS])
@pytest.mark.parametrize("valid", ["show the positions", "tighten the daily loss limit to 2 %"])
def test_an_injection_beside_a_valid_request_plans_nothing(case: dict[str, str], valid: str) -> None:
    refused(f"{valid}. {case['text']}")
    refused(f"{case['text']} and {valid}")


@given(
    st.lists(
        st.one_of(st.sampled_from(EXAMPLE_TEXTS), st.sampled_from([case["text"] for case in INJECTIONS])),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["; ", " and ", " then ", ", ", ". "]),
)
def test_the_plan_holds_exactly_the_tools_the_words_name(parts: list[str], joiner: str) -> None:
    result = plan_of(joiner.join(parts))
    if any(part not in EXAMPLE_TEXTS for part in parts):
        assert result.steps == []
        return
    named = {tool for part in parts for tool in dict(EXAMPLES)[part]}
    assert set(result.tools()) == named


# --- any text: a valid plan, never an exception -------------------------------------------------------------

WORDS = ["show", "the", "positions", "of", "for", "value", "bot", "AAPL", "p&l", "alerts", "decisions", "vetoed",
         "on", "2016-03-01", "why", "was", "explain", "decision", "rebalance", "at", "conservative", "level", "stop",
         "until", "monday", "resume", "halt", "trading", "cancel", "orders", "set", "posture", "to", "offensive",
         "tighten", "daily", "loss", "limit", "2", "%", "backtest", "growth", "MSFT", "2016", "run", "eval",
         "development", "and", "then", ";", ",", "go", "defensive", "clear", "override", "propose", "a", "for",
         "hours", "tomorrow", "from", "between", "last", "5"]  # fmt: skip


@given(st.text(max_size=400))
def test_any_text_gives_a_valid_plan(text: str) -> None:
    plan_of(text)


@given(st.lists(st.sampled_from(WORDS), max_size=14))
def test_any_soup_of_grammar_words_gives_a_valid_plan(words: list[str]) -> None:
    plan_of(" ".join(words))


# --- through the rules provider -----------------------------------------------------------------------------

BUDGET = StageBudget(target_s=3.0, warn_s=6.0, fail_s=20.0)


async def test_the_rules_client_answers_sena_with_the_grammars_plan() -> None:
    call = RoleCall(role="sena", schema=Plan, prompt=load_prompt("sena"), model="deepseek-chat", budget=BUDGET)
    llm_request = build_request(call, FACTS, request("stop the value bot until Monday"))
    reply = await RulesClient().complete(llm_request)
    assert reply.provider == "rules"
    result = Plan.model_validate(reply.parsed)
    assert result.tools() == ["bot.stop"]
    assert json.loads(reply.raw) == reply.parsed


async def test_sena_planned_by_the_rules_provider_validates() -> None:
    result = await plan(FACTS, request("rebalance at the conservative level"), client=RulesClient(),
                        model="deepseek-chat", budget=BUDGET)  # fmt: skip
    assert result.output is not None and not result.failed
    assert result.output.tools() == ["portfolio.propose", "portfolio.rebalance"]


async def test_an_injection_through_the_rules_provider_plans_nothing() -> None:
    result = await plan(FACTS, request(INJECTIONS[0]["text"]), client=RulesClient(), model="deepseek-chat",
                        budget=BUDGET)  # fmt: skip
    assert result.output is not None
    assert result.output.steps == [] and result.output.unsupported


def test_lookalike_characters_read_as_the_words_they_normalise_to_and_digits_are_ascii() -> None:
    assert plan_of("Ｓｈｏｗ ｔｈｅ ｐｏｓｉｔｉｏｎｓ").tools() == ["positions.show"]  # NFKC: the same words
    refused("tighten the daily loss limit to ٢ %")  # an Arabic-Indic digit is no number of the grammar


FACT_VALUES = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.lists(st.one_of(st.text(max_size=8), st.integers())),
    st.lists(st.dictionaries(st.sampled_from(["bot_id", "name", "strategy"]), st.one_of(st.text(max_size=8),
                                                                                         st.none()))),
)  # fmt: skip


@given(
    st.dictionaries(st.sampled_from(sorted(FACTS)), FACT_VALUES),
    st.sampled_from([*EXAMPLE_TEXTS, "stop the value bot until Monday", "go defensive for 2 hours"]),
)
def test_malformed_facts_still_give_a_valid_plan(changes: dict[str, Any], text: str) -> None:
    plan_of(text, **changes)
