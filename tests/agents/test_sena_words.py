"""The words of Sena's grammar: names resolved against the facts, times computed from the facts' date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agents.llm.sena_words import GrammarError, UnknownNameError, Vocabulary

NOW = "2016-03-02T14:30:00+00:00"  # a Wednesday


def vocabulary(**facts: object) -> Vocabulary:
    base: dict[str, object] = {
        "bots": [{"bot_id": "value"}, {"bot_id": "AAPL"}],
        "symbols": ["AAPL", "MSFT"],
        "strategies": ["growth"],
        "eval_sets": ["development"],
        "tools": [{"name": "bot.stop"}],
        "today": "2016-03-02",
        "now": NOW,
    }
    return Vocabulary.from_facts({**base, **facts})


@pytest.mark.parametrize(
    ("weekday", "day"),
    [("monday", 7), ("tuesday", 8), ("wednesday", 9), ("thursday", 3), ("friday", 4), ("saturday", 5),
     ("sunday", 6)],
)  # fmt: skip
def test_a_weekday_is_its_next_occurrence_after_today_at_midnight_utc(weekday: str, day: int) -> None:
    assert vocabulary().until(f"until {weekday}") == datetime(2016, 3, day, tzinfo=UTC)


def test_a_duration_counts_from_now_in_any_zone() -> None:
    words = vocabulary(now="2016-03-02T15:30:00+01:00")
    assert words.until("for 90 minutes") == datetime(2016, 3, 2, 16, 0, tzinfo=UTC)


def test_names_resolve_case_insensitively_to_the_facts_spelling() -> None:
    words = vocabulary()
    assert (words.bot("VALUE"), words.symbol("msft"), words.strategy("Growth")) == ("value", "MSFT", "growth")
    assert words.eval_set("DEVELOPMENT") == "development"
    with pytest.raises(UnknownNameError, match=r"unknown bot 'x' \(bots: value, AAPL\)"):
        words.bot("x")


def test_a_word_naming_both_a_bot_and_a_symbol_takes_the_likelier_kind() -> None:
    words = vocabulary()
    assert words.bot_or_symbol("aapl", bot_first=True) == ("bot_id", "AAPL")
    assert words.bot_or_symbol("aapl", bot_first=False) == ("symbol", "AAPL")


def test_malformed_facts_name_nothing() -> None:
    words = Vocabulary.from_facts({"bots": "value", "symbols": [1, "SPY"], "tools": [{"name": 3}], "today": "x"})
    assert (words.bots, words.symbols, words.tools, words.today, words.now) == ((), ("SPY",), frozenset(), None, None)
    with pytest.raises(GrammarError, match=r"facts\.today"):
        words.day("today")


def test_today_falls_back_to_the_utc_day_of_now() -> None:
    assert vocabulary(today=None, now="2016-03-02T23:30:00-05:00").today == date(2016, 3, 3)


def test_a_naive_now_is_no_time() -> None:
    assert vocabulary(now="2016-03-02T14:30:00").now is None
