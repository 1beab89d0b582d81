"""Shared memory types and helpers for the SDK's stored items (no storage here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents import TResponseInputItem

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
