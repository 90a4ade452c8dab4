"""The rules engine's predicates: a condition (field, operator, value) judged against an event's facts.

This module owns what a comparison means: `<`, `<=`, `>`, `>=` compare numbers with numbers (booleans are
not numbers here); `==` and `!=` compare values of the same kind; `in` and `not_in` test membership in a
list. A fact the condition names but the facts lack, or a value of another kind than the operator needs, is
not "false": it is an error the caller records, and a rule that cannot be judged does not act (fail safe).

Facts are a flat mapping of dotted names (`payload.severity`, `bot_id`, `sharpe_improvement`) to JSON
scalars. Pure: no I/O, no clock, nothing imported from the rest of the project.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

OPERATORS = ("<", "<=", ">", ">=", "==", "!=", "in", "not_in")


class PredicateError(ValueError):
    """A condition that cannot be judged against the facts (a missing fact, a value of the wrong kind)."""


def holds(field: str, op: str, value: Any, facts: Mapping[str, Any]) -> bool:
    """Whether `facts[field] <op> value`; `PredicateError` when it cannot be judged."""
    if op not in OPERATORS:
        raise PredicateError(f"unknown operator {op!r} (known: {', '.join(OPERATORS)})")
    if field not in facts:
        raise PredicateError(f"no fact {field!r} for this event (facts: {', '.join(sorted(facts)) or 'none'})")
    fact = facts[field]
    if op in ("<", "<=", ">", ">="):
        if not (_number(fact) and _number(value)):
            raise PredicateError(f"{field} {op} {value!r}: compares numbers, the fact is {fact!r}")
        if not (math.isfinite(fact) and math.isfinite(value)):
            raise PredicateError(f"{field} {op} {value!r}: the fact {fact!r} is not a finite number")
        return bool({"<": fact < value, "<=": fact <= value, ">": fact > value, ">=": fact >= value}[op])
    if op in ("in", "not_in"):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise PredicateError(f"{field} {op}: needs a list of values, got {value!r}")
        return (fact in value) is (op == "in")
    if _kind(fact) != _kind(value):
        raise PredicateError(f"{field} {op} {value!r}: the fact {fact!r} is of another kind")
    return (fact == value) is (op == "==")


def all_hold(conditions: Sequence[tuple[str, str, Any]], facts: Mapping[str, Any]) -> bool:
    """Every condition holds (an empty list holds); the first that cannot be judged raises."""
    return all(holds(field, op, value, facts) for field, op, value in conditions)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if _number(value):
        return "number"
    return type(value).__name__
