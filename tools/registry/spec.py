"""One operation the workflow may call: its name, input schema, the role it needs and what it changes.

A `ToolSpec` is data: what Sena may plan with, what Lubit checks a plan against, what decides whether a plan
waits for a person. A `Tool` is a spec bound to its handler, the same code the CLI and the flows call
(bound by `aegis`, which owns those jobs). A handler returns a `ToolResult` that cites the records it read or
wrote, so RUNE can check that every claim of a result rests on a record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from state.access import Access


class Change(StrEnum):
    """What a mutating operation changes; every one of them waits for a person's approval."""

    TRADES = "trades"  # orders: cancel, close
    LIMIT = "limit"  # a risk limit
    MODE = "mode"  # the trading state, the posture, a bot's state
    ALLOCATION = "allocation"  # the bots' capital


class ToolError(Exception):
    """An operation refused its input or failed; retrying cannot help."""


class TransientToolError(ToolError):
    """An operation failed for a reason that may pass (a store or a provider unavailable): retry it."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    summary: str  # one line, figures included
    data: dict[str, Any] = field(default_factory=dict)  # JSON: what the operation found or did
    cites: tuple[str, ...] = ()  # the records it rests on: decision/event ids, order ids, rule ids, files


@dataclass(frozen=True, slots=True)
class Caller:
    """On whose behalf an operation runs: the requester, their role, the request, who approved it."""

    name: str
    role: Access
    request_id: str
    approved_by: str | None = None

    @property
    def actor(self) -> str:
        """Who the audit log names for a change made through the workflow."""
        approved = f", approved by {self.approved_by}" if self.approved_by else ""
        return f"{self.name} (workflow {self.request_id}{approved})"


ArgsModel = type[BaseModel]
Handler = Callable[[BaseModel, Caller], Awaitable[ToolResult]]
# The role an operation needs for these arguments, when it depends on them (a limit tightened or loosened).
AccessRule = Callable[[BaseModel], Awaitable[Access]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    summary: str
    args: ArgsModel
    access: Access  # the role it needs (at least; `access_rule` may ask for more)
    changes: Change | None = None  # None: read-only

    @property
    def mutates(self) -> bool:
        return self.changes is not None

    @property
    def needs_approval(self) -> bool:
        return self.changes is not None

    def parse(self, arguments: Mapping[str, Any]) -> BaseModel:
        """The arguments as the tool's input model; `ToolError` naming each bad field."""
        try:
            return self.args.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            raise ToolError(f"{self.name}: {problems}") from None

    def describe(self) -> dict[str, Any]:
        """What a planner is shown: name, purpose, role needed, whether it changes anything, input schema."""
        return {
            "name": self.name,
            "summary": self.summary,
            "access": str(self.access),
            "changes": str(self.changes) if self.changes else None,
            "needs_approval": self.needs_approval,
            "args": self.args.model_json_schema(),
        }


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    handler: Handler
    access_rule: AccessRule | None = None

    async def access_for(self, args: BaseModel) -> Access:
        """The role these arguments need: the spec's, or more where the rule asks for it."""
        if self.access_rule is None:
            return self.spec.access
        needed = await self.access_rule(args)
        return needed if needed.rank > self.spec.access.rank else self.spec.access


class UnknownToolError(ToolError):
    pass


class ToolRegistry:
    """The tools by name. Built once per pipeline; a tool with no handler cannot be registered."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.spec.name in self._tools:
                raise ValueError(f"tool {tool.spec.name!r} registered twice")
            self._tools[tool.spec.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(f"no tool {name!r} (known: {', '.join(sorted(self._tools))})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [self._tools[name].spec for name in self.names()]

    def catalog(self) -> list[dict[str, Any]]:
        return [spec.describe() for spec in self.specs()]
