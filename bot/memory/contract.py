"""The contract the chat service depends on: what any memory store must do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, Self

from agents import TResponseInputItem

from .items import (
    AppliedChange,
    CommitResult,
    ForgetReport,
    HistoryPage,
    MemoryChange,
    MemorySource,
    UserMemory,
)


class MemoryStore(Protocol):
    """Every user's history and facts. A turn's items and fact changes are stored together
    or not at all; reads never see half a turn. Methods raise `StoreError` (`StoreFull` when
    nothing more fits) with one line for the operator."""

    async def open(self) -> Self:
        """Connect, check the tables are ours and migrate (also done by `async with` or on
        first use); raises StoreError with one line when the database cannot be used."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def migrate(self) -> None:
        """Bring the schema up to date (also done on open); safe from several processes."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        ...

    def turn_lock(self, user_key: str) -> AbstractAsyncContextManager[None]:
        """Held around a whole turn, on top of the chat service's in-process lock: keeps one
        user's turns in order across processes sharing the database."""
        ...

    async def recent_items(self, user_key: str, user_turns: int) -> list[TResponseInputItem]:
        """The newest `user_turns` turns of history, each whole, starting at a user message."""
        ...

    async def commit_turn(
        self,
        user_key: str,
        items: Sequence[TResponseInputItem],
        changes: Mapping[str, str] | Sequence[MemoryChange] = (),
        *,
        source: MemorySource | None = None,
    ) -> CommitResult:
        """Store one finished turn: its history items and memory changes, in one
        transaction; while memory is paused, nothing but forgetting."""
        ...

    async def memory(self, user_key: str) -> UserMemory:
        """The user's memory items and whether memory is paused."""
        ...

    async def set_paused(self, user_key: str, paused: bool) -> None:
        """Pause or resume the user's memory (kept across restarts)."""
        ...

    async def forget_item(self, user_key: str, which: str) -> AppliedChange | None:
        """Erase one item ("name", "city" or its number) and its value from stored history."""
        ...

    async def facts(self, user_key: str) -> dict[str, str]:
        """The user's name and city, e.g. {"name": "Ada", "city": "Lisbon"}."""
        ...

    async def history_page(self, user_key: str, page: int, per_page: int) -> HistoryPage:
        """Page `page` (1 = newest) of the user's stored items, oldest first within it."""
        ...

    async def all_items(self, user_key: str) -> list[TResponseInputItem]:
        """Every stored item of the user, oldest first."""
        ...

    async def export(self, user_key: str) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict."""
        ...

    async def forget(self, user_key: str) -> ForgetReport:
        """Erase the user's history and facts in one transaction; report what was erased."""
        ...
