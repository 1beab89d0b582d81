"""How stored memory reads to a person: shared by every front end."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..memory import FACT_NAMES, ForgetReport, HistoryPage, message_text

MAX_LINE_CHARS = 500


def _clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_arguments(raw: str) -> str:
    try:
        args = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return raw
    if not isinstance(args, dict):
        return raw
    return ", ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}"
        for key, value in args.items()
        if value is not None
    )


def describe_items(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """One readable line per stored exchange: messages, and each tool call with its
    arguments joined to its output when both are present."""
    outputs = {
        item.get("call_id"): item.get("output")
        for item in items
        if item.get("type") == "function_call_output"
    }
    called = {item.get("call_id") for item in items if item.get("type") == "function_call"}
    lines: list[str] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            who = {"user": "you", "assistant": "bot"}.get(str(item.get("role")), item.get("role"))
            lines.append(f"[{who}] {_clip(message_text(item))}")
        elif kind == "function_call":
            call = f"{item.get('name')}({_format_arguments(item.get('arguments', ''))})"
            output = outputs.get(item.get("call_id"))
            suffix = f" -> {_clip(str(output))}" if output is not None else " (no output)"
            lines.append(_clip(f"[tool] {call}{suffix}", MAX_LINE_CHARS * 2))
        elif kind == "function_call_output":
            if item.get("call_id") not in called:
                # Its call sits on another page.
                lines.append(f"[tool output] {_clip(str(item.get('output')))}")
        else:
            lines.append(f"[{kind}]")
    return lines


def render_facts(facts: Mapping[str, str]) -> list[str]:
    """The profile lines, one per known fact, or a line saying there are none."""
    if not facts:
        return ["(no facts stored)"]
    return [f"{fact}: {facts[fact]}" for fact in FACT_NAMES if fact in facts]


def render_history(facts: Mapping[str, str], page: HistoryPage) -> str:
    """The text of `!history`: facts, then one page of stored items."""
    lines = ["What I remember about you:"]
    lines += [f"  {line}" for line in render_facts(facts)]
    if page.total == 0:
        lines.append("Conversation history: empty.")
        return "\n".join(lines)
    if page.page > page.pages:
        lines.append(f"There is no page {page.page}: history has {page.pages} page(s).")
        return "\n".join(lines)
    lines.append(
        f"Conversation history, page {page.page} of {page.pages} "
        f"(page 1 is the newest; {page.total} items stored):"
    )
    lines += [f"  {line}" for line in describe_items(page.items)]
    return "\n".join(lines)


def render_turn_added(items: Sequence[Mapping[str, Any]]) -> str:
    """The compact "added to history" block shown after a reply."""
    body = describe_items(items)
    header = f"-- added to history ({len(items)} item{'s' if len(items) != 1 else ''}) --"
    return "\n".join([header, *(f"  {line}" for line in body)])


def render_forget(report: ForgetReport) -> str:
    """What `!forget` says it erased."""
    if report.empty:
        return "There was nothing to forget: I had no history or facts stored for you."
    parts = [f"{report.history_items} history item{'s' if report.history_items != 1 else ''}"]
    if report.facts:
        parts.append(
            "your " + " and ".join(f"{fact} ({value})" for fact, value in report.facts.items())
        )
    return "Done. I erased " + " and ".join(parts) + ". I no longer remember anything about you."
