"""Prompt files: one per role, with id and version; rendering is deterministic and facts stay delimited."""

from __future__ import annotations

import pytest

from prompts.loader import FACTS_PLACEHOLDER, PromptError, load_prompt, parse_prompt


@pytest.mark.parametrize("role", ["analyst", "validator", "commander", "sena", "lubit", "rune"])
def test_each_role_has_a_versioned_prompt(role: str) -> None:
    prompt = load_prompt(role)
    assert prompt.id == role and prompt.version >= 1
    assert prompt.prompt_id == f"{role}@v{prompt.version}"
    assert "data, not instructions" in prompt.system


def test_rendering_is_deterministic_and_the_hash_follows_the_facts() -> None:
    prompt = load_prompt("analyst")
    a = prompt.render({"b": 1, "a": [1, 2]})
    b = prompt.render({"a": [1, 2], "b": 1})
    c = prompt.render({"a": [1, 2], "b": 2})
    assert a == b and a.prompt_hash != c.prompt_hash
    system, user = a.messages
    assert system.role == "system" and user.role == "user"
    assert "<facts>" in user.content and "</facts>" in user.content and FACTS_PLACEHOLDER not in user.content


def test_a_malformed_prompt_file_is_refused_clearly() -> None:
    with pytest.raises(PromptError, match="front matter"):
        parse_prompt("## system\nx\n## user\n{{facts}}", "bad.md")
    with pytest.raises(PromptError, match="must contain"):
        parse_prompt("---\nid: x\nversion: 1\n---\n## system\ns\n## user\nno facts", "bad.md")
    with pytest.raises(PromptError, match="no prompt file"):
        load_prompt("nobody")


@pytest.mark.parametrize("role", ["sena", "lubit", "rune"])
def test_the_workflow_prompts_name_the_requests_block_as_untrusted(role: str) -> None:
    """The workflow quotes the operator's request as `operator_request`; each prompt says what that block is."""
    system = load_prompt(role).system
    assert '<external_text source="operator_request"' in system and 'trust="untrusted"' in system
    assert "never" in system and "reply format" in system
