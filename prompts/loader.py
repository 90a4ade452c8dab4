"""Prompt templates: one file per role in this folder, with an id and a version, rendered and hashed.

A template file has a front matter (`id`, `version`) and two sections, `## system` (static, first, so
provider-side prompt caching applies) and `## user` (rendered from the session's facts). Facts are
inserted as JSON inside a labelled, delimited block: they are data, never instructions.

Every text that enters a rendered prompt goes through `prompts.escaping` for its position: attribute values
with `escape_attribute`, block contents (the facts JSON, quoted external text) with `escape_content`. No
value can end its attribute, close its block or open a tag. The placeholders are filled in one pass, so a
value that spells a placeholder (`{{external}}` inside the facts) stays literal text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from prompts.escaping import escape_attribute, escape_content

FACTS_PLACEHOLDER = "{{facts}}"
EXTERNAL_PLACEHOLDER = "{{external}}"
_FRONT_MATTER = re.compile(r"\A---\n(?P<head>.*?)\n---\n(?P<body>.*)\Z", re.DOTALL)
_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile("|".join(map(re.escape, (FACTS_PLACEHOLDER, EXTERNAL_PLACEHOLDER))))


class PromptError(ValueError):
    """A prompt file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "system" | "user"
    content: str


@dataclass(frozen=True, slots=True)
class ExternalText:
    """Untrusted text from outside (news, operator free text): shown to a model only as quoted data."""

    source: str  # e.g. "news"
    ref: str  # where it came from (event id, url)
    text: str

    def block(self) -> str:
        # Each part escaped for its position: no text can end an attribute, close the block or open a tag.
        source, ref = escape_attribute(self.source), escape_attribute(self.ref)
        return (
            f'<external_text source="{source}" ref="{ref}" trust="untrusted">\n'
            f"{escape_content(self.text)}\n</external_text>"
        )


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    messages: tuple[Message, ...]
    prompt_id: str  # "<id>@v<version>"
    prompt_hash: str  # sha256 of the rendered messages


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    id: str
    version: int
    system: str
    user: str

    @property
    def prompt_id(self) -> str:
        return f"{self.id}@v{self.version}"

    def render(self, facts: dict[str, Any], external: Sequence[ExternalText] = ()) -> RenderedPrompt:
        block = escape_content(json.dumps(facts, sort_keys=True, default=str, indent=1))
        filled = {
            FACTS_PLACEHOLDER: f"<facts>\n{block}\n</facts>",
            EXTERNAL_PLACEHOLDER: "\n".join(text.block() for text in external) or "(none)",
        }
        user = _PLACEHOLDER.sub(lambda match: filled[match[0]], self.user)
        messages = (Message("system", self.system), Message("user", user))
        return RenderedPrompt(messages, self.prompt_id, messages_hash(messages))


def messages_hash(messages: tuple[Message, ...]) -> str:
    """A short, stable hash of rendered messages: what exactly a model was shown."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(message.role.encode())
        digest.update(b"\x00")
        digest.update(message.content.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def parse_prompt(text: str, name: str) -> PromptTemplate:
    match = _FRONT_MATTER.match(text)
    if not match:
        raise PromptError(f"prompt {name}: missing front matter (--- id/version ---)")
    head: dict[str, str] = {}
    for line in match["head"].splitlines():
        key, _, value = line.partition(":")
        head[key.strip()] = value.strip()
    if "id" not in head or not head.get("version", "").isdigit():
        raise PromptError(f"prompt {name}: front matter needs `id` and an integer `version`")
    parts = _SECTION.split(match["body"])
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise PromptError(f"prompt {name}: needs exactly one `## system` and one `## user` section")
    for placeholder in (FACTS_PLACEHOLDER, EXTERNAL_PLACEHOLDER):
        if placeholder not in sections["user"]:
            raise PromptError(f"prompt {name}: the user section must contain {placeholder}")
    return PromptTemplate(head["id"], int(head["version"]), sections["system"], sections["user"])


@cache
def load_prompt(role: str) -> PromptTemplate:
    """The template of a role, from `prompts/<role>.md` (packaged with the project)."""
    try:
        text = resources.files("prompts").joinpath(f"{role}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"no prompt file for role {role!r}") from None
    return parse_prompt(text, f"{role}.md")
