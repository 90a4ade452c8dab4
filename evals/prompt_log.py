"""The prompts of an eval run, as the roles were shown them: ``prompts.jsonl`` beside the run's decisions.

A decision record keeps each stage's prompt id and hash, not the text; the audit of what a role saw
(`evals.prompt_audit`) needs the text. `PromptLog` wraps each provider client of the run and keeps every
request's rendered messages with the role and the event it was asked about (the facts' ``event.id``). The
`rules` baseline receives the same rendered request an LLM provider does (`agents.stage.build_request`
renders it before any client is asked), so a rules run records exactly what a model would have been shown,
without calling one.

Decisions that must not be silently changed: the log never alters a request or a reply (it only reads the
request before passing it on), and the file is written in tape order (events as decided, roles in asking
order within an event), so two runs of the same set give byte-identical files at any concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm.client import LLMClient, LLMReply, LLMRequest

PROMPTS_FILE = "prompts.jsonl"
ROLE_ORDER = ("analyst", "validator", "commander")  # asking order within a session; others after, by name


@dataclass(frozen=True, slots=True)
class PromptEntry:
    event_id: str
    role: str
    prompt_id: str
    messages: tuple[tuple[str, str], ...]  # (message role, content)

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "role": self.role,
            "prompt_id": self.prompt_id,
            "messages": [{"role": role, "content": content} for role, content in self.messages],
        }


def request_event_id(request: LLMRequest) -> str:
    """The event a role was asked about: the facts' ``event.id`` ("" for a request without one)."""
    event = request.facts.get("event")
    return str(event.get("id", "")) if isinstance(event, dict) else ""


class PromptLog:
    """Every rendered request the run's providers receive, kept in memory until `write`."""

    def __init__(self) -> None:
        self.entries: list[PromptEntry] = []

    def keep(self, request: LLMRequest) -> None:
        messages = tuple((m.role, m.content) for m in request.messages)
        self.entries.append(PromptEntry(request_event_id(request), request.role, request.prompt_id, messages))

    def wrap(self, clients: Mapping[str, LLMClient]) -> dict[str, LLMClient]:
        """`clients` with each one behind a client that keeps its requests here."""
        return {name: _LoggedClient(client, self) for name, client in clients.items()}

    def write(self, path: Path, event_order: Iterable[str]) -> Path:
        """Write the entries in tape order (`event_order`: the run's event ids as decided) to `path`."""
        rank = {event_id: index for index, event_id in enumerate(event_order)}

        def key(numbered: tuple[int, PromptEntry]) -> tuple[int, int, str, int]:
            number, entry = numbered
            role = ROLE_ORDER.index(entry.role) if entry.role in ROLE_ORDER else len(ROLE_ORDER)
            return rank.get(entry.event_id, len(rank)), role, entry.role, number

        ordered = [entry for _, entry in sorted(enumerate(self.entries), key=key)]
        text = "".join(json.dumps(e.to_json(), sort_keys=True) + "\n" for e in ordered)
        path.write_text(text, encoding="utf-8")
        return path


def read_prompts(path: Path) -> list[PromptEntry]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            value = json.loads(line)
            messages = tuple((m["role"], m["content"]) for m in value["messages"])
            entries.append(PromptEntry(value["event_id"], value["role"], value["prompt_id"], messages))
    return entries


class _LoggedClient:
    def __init__(self, inner: LLMClient, log: PromptLog) -> None:
        self._inner = inner
        self._log = log

    @property
    def provider(self) -> str:
        return self._inner.provider

    async def complete(self, request: LLMRequest) -> LLMReply:
        self._log.keep(request)
        return await self._inner.complete(request)
