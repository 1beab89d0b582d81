"""How stored memory reads to a person, shared by every front end: structured values
(`(who, text)` lines) that each front end lays out its own way, and plain-text layouts of
them for the text front ends."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .domain import AppliedChange, ForgetReport, HistoryPage, MemoryItem, UserMemory, message_text

if TYPE_CHECKING:
    from .commands import SearchView
    from .syntax import CommandSyntax

# One line of stored history as shown: who ("you", "bot", "tool", ...) and what.
Line = tuple[str, str]

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


def describe_items(items: Sequence[Mapping[str, Any]]) -> list[Line]:
    """One (who, text) line per stored exchange: messages, and each tool call with its
    arguments joined to its output when both are present."""
    outputs = {
        item.get("call_id"): item.get("output")
        for item in items
        if item.get("type") == "function_call_output"
    }
    called = {item.get("call_id") for item in items if item.get("type") == "function_call"}
    lines: list[Line] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            role = str(item.get("role"))
            who = {"user": "you", "assistant": "bot"}.get(role, role)
            lines.append((who, _clip(message_text(item))))
        elif kind == "function_call":
            call = f"{item.get('name')}({_format_arguments(item.get('arguments', ''))})"
            output = outputs.get(item.get("call_id"))
            suffix = f" -> {_clip(str(output))}" if output is not None else " (no output)"
            lines.append(("tool", _clip(f"{call}{suffix}", MAX_LINE_CHARS * 2 - 7)))
        elif kind == "function_call_output":
            if item.get("call_id") not in called:
                # Its call sits on another page.
                lines.append(("tool output", _clip(str(item.get("output")))))
        else:
            lines.append((str(kind), ""))
    return lines


def format_line(line: Line) -> str:
    """A history line as plain text: `[you] I live in Lisbon`."""
    who, text = line
    return f"[{who}] {text}" if text else f"[{who}]"


def render_item(item: MemoryItem) -> str:
    """One memory item as people see it: `#3 note: I'm vegetarian`."""
    return f"#{item.number} {item.kind}: {_clip(item.value)}"


def render_items(memory: UserMemory) -> list[str]:
    """One line per memory item, or a line saying there are none."""
    if not memory.items:
        return ["(nothing remembered)"]
    return [render_item(item) for item in memory.items]


def memory_summary(memory: UserMemory, syntax: CommandSyntax) -> str:
    """One line for the memory items, where the whole list would repeat (history pages)."""
    if not memory.items:
        return "What I remember about you: nothing yet."
    count = _plural(len(memory.items), "item")
    return f"What I remember about you: {count} ({syntax('memory')} lists them)."


def page_turns(page: HistoryPage) -> str:
    """Which turns a page of history lists: `turns 4–6 of 14` (1 is the oldest)."""
    if page.first_turn == page.last_turn:
        return f"turn {page.first_turn} of {page.turns}"
    return f"turns {page.first_turn}–{page.last_turn} of {page.turns}"


def history_heading(page: HistoryPage) -> str:
    """The line above a page of history: which page, and which turns it lists."""
    return (
        f"Conversation history, page {page.page} of {page.pages} (page 1 is the newest): "
        f"{page_turns(page)}"
    )


def render_history(memory: UserMemory, page: HistoryPage, syntax: CommandSyntax) -> str:
    """The text of `history`: memory items (listed on page 1, counted on the others), then
    one page of whole turns."""
    if page.page == 1:
        lines = ["What I remember about you:"]
        lines += [f"  {line}" for line in render_items(memory)]
    else:
        lines = [memory_summary(memory, syntax)]
    if page.turns == 0:
        lines.append("Conversation history: empty.")
        return "\n".join(lines)
    if page.page > page.pages:
        lines.append(f"There is no page {page.page}: history has {page.pages} page(s).")
        return "\n".join(lines)
    lines.append(history_heading(page) + ":")
    lines += [f"  {format_line(line)}" for line in describe_items(page.items)]
    if page.page < page.pages:
        lines.append(f"Older: {syntax('history', str(page.page + 1))}")
    return "\n".join(lines)


def render_turn_added(items: Sequence[Mapping[str, Any]]) -> str:
    """The compact "added to history" block shown after a reply; its count is of the lines
    it lists (a tool call and its output are one)."""
    body = describe_items(items)
    header = f"-- added to history ({_plural(len(body), 'entry', 'entries')}) --"
    return "\n".join([header, *(f"  {format_line(line)}" for line in body)])


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def _pending(pending: str | None) -> str:
    """What the person is told when the erased text has not left the memory file yet."""
    return (
        f" It is gone from my memory; the memory file itself still holds it: {pending}."
        if pending
        else ""
    )


def render_forget(report: ForgetReport) -> str:
    """What `!forget` says it erased."""
    if report.empty:
        return "There was nothing to forget: I had no history or facts stored for you."
    parts = [_plural(report.history_items, "history item")]
    if report.facts:
        parts.append(
            "your " + " and ".join(f"{fact} ({value})" for fact, value in report.facts.items())
        )
    if report.notes:
        parts.append(_plural(len(report.notes), "note"))
    return (
        "Done. I erased "
        + " and ".join(parts)
        + ". I no longer remember anything about you."
        + _pending(report.pending)
    )


def render_memory(memory: UserMemory, syntax: CommandSyntax) -> str:
    """The text of `memory`: every item with its number, and whether memory is paused."""
    if memory.paused:
        state = f"Memory is paused: I store nothing new. {syntax('memory', 'on')} resumes it."
    else:
        state = f"Memory is on. {syntax('memory', 'off')} pauses it (nothing new is stored)."
    if not memory.items:
        return f"I don't remember anything about you yet.\n{state}"
    lines = ["What I remember about you:"]
    for item in memory.items:
        saved = item.updated_at.strftime("%Y-%m-%d")
        lines.append(f"  {render_item(item)}  (saved {saved}, {item.source.frontend})")
    lines.append(state)
    lines.append(
        f"{syntax('forget', '<number>')} (or {syntax('forget', 'name')}, "
        f"{syntax('forget', 'city')}) erases one item; {syntax('forget')} erases everything."
    )
    return "\n".join(lines)


def _erase_hint(change: AppliedChange, syntax: CommandSyntax, what: str) -> str:
    which = change.kind if change.kind != "note" else str(change.number)
    return f"{syntax('forget', which)} erases {what}"


def describe_change(change: AppliedChange, syntax: CommandSyntax) -> str:
    """One line per memory change of a turn: what changed, and how to erase it (forgetting
    a corrected item erases the value it had before too)."""
    label = change.kind if change.kind != "note" else f"note {change.number}"
    if change.action == "forget":
        return f"forgot {label} ({_clip(change.value, 100)})"
    if change.previous is not None:
        was = _clip(change.previous, 100)
        hint = _erase_hint(change, syntax, "both")
        return f"{label}: {_clip(change.value, 200)} (was {was}) · {hint}"
    return f"{label}: {_clip(change.value, 200)} (new) · {_erase_hint(change, syntax, 'it')}"


def render_changes(changes: Sequence[AppliedChange], syntax: CommandSyntax) -> str:
    """The "memory changed" block shown after a reply (empty when nothing changed)."""
    if not changes:
        return ""
    lines = [f"  {describe_change(change, syntax)}" for change in changes]
    return "\n".join(["-- memory changed --", *lines])


def render_item_forgotten(change: AppliedChange | None, which: str, syntax: CommandSyntax) -> str:
    """What `forget <item>` says it erased."""
    if change is None:
        return f"There is no item {which} in your memory. {syntax('memory')} lists what I remember."
    if change.kind == "note":
        what = f"note {change.number} ({_clip(change.value)}) and removed it"
    else:
        what = (
            f"your {change.kind} ({_clip(change.value)}) and any {change.kind} you gave me "
            "before it, and removed them"
        )
    stored = _plural(change.redacted, "stored history item")
    return f"Done. I forgot {what} from {stored}." + _pending(change.pending)


def search_lines(view: SearchView) -> list[Line]:
    """One (who and when, text) line per match of a search page."""
    return [
        (f"{'you' if hit.role == 'user' else 'bot'}, {hit.said_at:%Y-%m-%d}", _clip(hit.text))
        for hit in view.hits
    ]


def render_search(view: SearchView, syntax: CommandSyntax) -> str:
    """The text of `search`: the page's matches, best first, each with when it was said."""
    if view.total == 0:
        return f'I found nothing you said that matches "{_clip(view.words, 100)}".'
    if view.page > view.pages:
        return f"There is no page {view.page}: the matches fill {view.pages} page(s)."
    lines = [
        f'What you said that matches "{_clip(view.words, 100)}", best first '
        f"(page {view.page} of {view.pages}, {view.total} "
        f"{'match' if view.total == 1 else 'matches'}):"
    ]
    lines += [f"  {format_line(line)}" for line in search_lines(view)]
    if view.page < view.pages:
        lines.append(f"More: {syntax('search', f'{view.words} page {view.page + 1}')}")
    return "\n".join(lines)
