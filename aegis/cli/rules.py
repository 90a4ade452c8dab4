"""`aegis rules list | show ID | add FILE | set ID | disable ID | enable ID`: the rules engine's rules.

They work on the durable store the settings name (or `--data-dir`), so they act on running flows too: the
flows read the rules' hot mirror. Every change is validated whole, written as the rule's next version and
audited with who and why; a rule file that does not validate changes nothing and says what is wrong.

    aegis rules add my-rule.yaml --reason "stop bots on a burst"
    aegis rules set anomaly-high-stops-bot --priority 950 --reason "before the others"
    aegis rules disable signal-low-strength-proceeds --reason "review"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from aegis.cli.bots import DataDir, on_records
from aegis.cli.control import operator_name, require_reason
from aegis.pipeline import Pipeline
from state.rules import Rule
from tools.ops.rules import InvalidRuleError, UnknownRuleError

app = typer.Typer(no_args_is_help=True, help="The rules engine's rules: list, show, add, set, enable, disable.")
console = Console(soft_wrap=True, highlight=False, markup=False)

Reason = Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log")]
Actor = Annotated[str | None, typer.Option("--actor", help="Who (default: the login name)")]
RuleArg = Annotated[str, typer.Argument(metavar="ID", help="The rule's id (aegis rules list)")]


def _when(rule: Rule) -> str:
    conditions = " and ".join(f"{c.field} {c.op} {_value(c.value)}" for c in rule.conditions) or "always"
    return f"{rule.event_type}: {conditions}"


def _then(rule: Rule) -> str:
    return ", ".join(a.kind.value + (f"({_params(a.params)})" if a.params else "") for a in rule.actions)


def _value(value: Any) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, tuple) else str(value)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _line(rule: Rule) -> str:
    state = "enabled" if rule.enabled else "DISABLED"
    return f"{rule.rule_id} v{rule.version} [{state}, priority {rule.priority}] when {_when(rule)} then {_then(rule)}"


@app.command("list")
def list_rules(data_dir: DataDir = None) -> None:
    """Every rule in evaluation order (priority, higher first): when -> then, its version and state."""
    for rule in _on_rules(data_dir, lambda p: p.rules.rules()):
        console.print(_line(rule))


@app.command("show")
def show(rule_id: RuleArg, data_dir: DataDir = None) -> None:
    """One rule as JSON, and every version it had (who changed it, when)."""

    async def read(pipeline: Pipeline) -> list[Rule]:
        return await pipeline.rules.history(rule_id)

    versions = _on_rules(data_dir, read)
    console.print(json.dumps(versions[-1].model_dump(mode="json"), indent=2))
    for rule in versions:
        console.print(f"v{rule.version} by {rule.changed_by} at {rule.changed_at}: {_line(rule)}")


@app.command("add")
def add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A rule (or a list) as YAML or JSON")],
    reason: Reason,
    actor: Actor = None,
    data_dir: DataDir = None,
) -> None:
    """Add rules from a file: rule_id, description, event_type, conditions, actions, priority, enabled."""
    require_reason(reason)
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{file.name} is not YAML or JSON: {exc}".splitlines()[0]) from None
    definitions = loaded if isinstance(loaded, list) else [loaded]
    if not all(isinstance(d, dict) for d in definitions):
        raise typer.BadParameter(f"{file.name}: a rule is a mapping (or a list of them)")

    async def write(pipeline: Pipeline) -> list[Rule]:
        return [await pipeline.rules.add(d, actor=actor or operator_name(), reason=reason) for d in definitions]

    for rule in _on_rules(data_dir, write):
        console.print(f"added {_line(rule)}")


@app.command("set")
def set_rule(
    rule_id: RuleArg,
    reason: Reason,
    priority: Annotated[int | None, typer.Option(help="0..1000, higher runs first")] = None,
    description: Annotated[str | None, typer.Option(help="What the rule is for")] = None,
    conditions: Annotated[str | None, typer.Option(help='JSON list: [{"field": ..., "op": ..., "value": ...}]')] = None,
    actions: Annotated[str | None, typer.Option(help='JSON list: [{"kind": ..., "params": {...}}]')] = None,
    actor: Actor = None,
    data_dir: DataDir = None,
) -> None:
    """Change a rule (its next version): priority, description, conditions, actions."""
    require_reason(reason)
    changes: dict[str, Any] = {}
    if priority is not None:
        changes["priority"] = priority
    if description is not None:
        changes["description"] = description
    for name, text in (("conditions", conditions), ("actions", actions)):
        if text is not None:
            try:
                changes[name] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"not JSON: {exc.msg}", param_hint=f"--{name}") from None
    if not changes:
        raise typer.BadParameter("nothing to change: give --priority, --description, --conditions or --actions")
    rule = _on_rules(
        data_dir, lambda p: p.rules.change(rule_id, changes, actor=actor or operator_name(), reason=reason)
    )
    console.print(f"changed {_line(rule)}")


@app.command("disable")
def disable(rule_id: RuleArg, reason: Reason, actor: Actor = None, data_dir: DataDir = None) -> None:
    """Disable a rule: kept and listed, skipped by the evaluation."""
    require_reason(reason)
    rule = _on_rules(data_dir, lambda p: p.rules.disable(rule_id, actor=actor or operator_name(), reason=reason))
    console.print(f"disabled {_line(rule)}")


@app.command("enable")
def enable(rule_id: RuleArg, reason: Reason, actor: Actor = None, data_dir: DataDir = None) -> None:
    """Enable a disabled rule."""
    require_reason(reason)
    rule = _on_rules(data_dir, lambda p: p.rules.enable(rule_id, actor=actor or operator_name(), reason=reason))
    console.print(f"enabled {_line(rule)}")


def _on_rules(data_dir: Path | None, work: Any) -> Any:
    """`on_records`, a rule that does not exist or does not validate reported as one line (exit 2)."""

    async def guarded(pipeline: Any) -> Any:
        try:
            return await work(pipeline)
        except (UnknownRuleError, InvalidRuleError) as exc:
            raise typer.BadParameter(str(exc)) from None

    return on_records(data_dir, guarded)
