"""Shared memory types and helpers for the SDK's stored items (no storage here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents import TResponseInputItem
from agents.memory import Session

FACT_NAMES = ("name", "city")


@dataclass(frozen=True)
class HistoryPage:
    """One page of a user's stored items, oldest first within the page; page 1 is newest."""

    items: list[TResponseInputItem]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class ForgetReport:
    """What `forget` erased."""

    history_items: int
    facts: dict[str, str]

    @property
    def empty(self) -> bool:
        return self.history_items == 0 and not self.facts


def is_user_message(item: Mapping[str, Any]) -> bool:
    """True for an item the person typed (the start of a turn)."""
    return item.get("role") == "user" and item.get("type", "message") == "message"


async def newest_turns(session: Session, user_turns: int) -> list[TResponseInputItem]:
    """The newest `user_turns` turns of a session's history, each whole: the window starts at
    a user message, so a tool call is never separated from its output. Reads only as many
    items as it needs, through the SDK's own `get_items`."""
    limit = max(8, user_turns * 4)
    while True:
        items = await session.get_items(limit=limit)
        starts = [i for i, item in enumerate(items) if is_user_message(item)]
        if len(starts) > user_turns:
            return items[starts[-user_turns] :]
        if len(items) < limit:
            # All history fits; drop anything before the first user message so the window
            # always begins at a turn boundary.
            return items[starts[0] :] if starts else []
        limit *= 2


def message_text(item: Mapping[str, Any]) -> str:
    """The plain text of a message item, whichever content shape it uses."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict):
            parts.append(part.get("text") or part.get("refusal") or "")
    return "".join(parts)
