"""The store contract the core depends on (a port): what any memory store must do, and the
errors it raises. `memory/` implements it; the core never imports `memory/`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, Self

from agents import TResponseInputItem

from .domain import (
    AppliedChange,
    CommitResult,
    ForgetReport,
    HistoryPage,
    MemoryChange,
    MemorySource,
    UserKey,
    UserMemory,
)


class StoreError(Exception):
    """The memory store cannot be used. `str(error)` is one line naming what is wrong and how
    to fix it (shown to the operator; never the database password)."""


class StoreFull(StoreError):
    """The disk or database is full: nothing new can be stored until the operator frees
    space. Reads still work."""


class MemoryStore(Protocol):
    """Every user's history and memory items. A turn's items and memory changes are stored
    together or not at all; reads never see half a turn. Methods raise `StoreError`
    (`StoreFull` when nothing more fits) with one line for the operator."""

    async def open(self) -> Self:
        """Connect, check the tables are ours and migrate (also done by `async with` or on
        first use); raises StoreError with one line when the database cannot be used."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def aclose(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        ...

    def turn_lock(self, user: UserKey) -> AbstractAsyncContextManager[None]:
        """Held around a whole turn, on top of the chat service's in-process lock: keeps one
        user's turns in order across processes sharing the database."""
        ...

    async def recent_items(self, user: UserKey, user_turns: int) -> list[TResponseInputItem]:
        """The newest `user_turns` turns of history, each whole, starting at a user message."""
        ...

    async def commit_turn(
        self,
        user: UserKey,
        items: Sequence[TResponseInputItem],
        changes: Sequence[MemoryChange] = (),
        *,
        source: MemorySource | None = None,
    ) -> CommitResult:
        """Store one finished turn: its history items and memory changes, in one
        transaction; while memory is paused, nothing but forgetting. `source` (default: the
        key's front end) is kept with each item the turn saves."""
        ...

    async def memory(self, user: UserKey) -> UserMemory:
        """The user's memory items and whether memory is paused."""
        ...

    async def set_paused(self, user: UserKey, paused: bool) -> None:
        """Pause or resume the user's memory (kept across restarts)."""
        ...

    async def forget_item(self, user: UserKey, which: str) -> AppliedChange | None:
        """Erase one item ("name", "city" or its number) and its value from stored history."""
        ...

    async def history_page(self, user: UserKey, page: int, per_page: int) -> HistoryPage:
        """Page `page` (1 = newest) of the user's stored history: `per_page` whole turns
        (a tool call is always on the page of its output), oldest first within it."""
        ...

    async def all_items(self, user: UserKey) -> list[TResponseInputItem]:
        """Every stored item of the user, oldest first."""
        ...

    async def export(self, user: UserKey) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict."""
        ...

    async def forget(self, user: UserKey) -> ForgetReport:
        """Erase the user's history and memory in one transaction; report what was erased."""
        ...
