"""The store contract the core depends on (a port): what any memory store must do, and the
errors it raises. `memory/` implements it; the core never imports `memory/`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol, Self

from agents import TResponseInputItem

from .domain import (
    AppliedChange,
    CommitResult,
    ForgetReport,
    HistoryPage,
    HistoryWindow,
    MemoryChange,
    MemorySource,
    SearchHit,
    UserKey,
    UserMemory,
)
from .places import SettingRow
from .usage import UsageCounts, UsageRecord


class StoreError(Exception):
    """The memory store cannot be used. `str(error)` is one line naming what is wrong and how
    to fix it (shown to the operator; never the database password)."""


class StoreFull(StoreError):
    """The disk or database is full: nothing new can be stored until the operator frees
    space. Reads still work."""


class ErasedDuringTurn(Exception):
    """The person's memory was erased (here or by another process sharing the database)
    after this turn read it: the turn is not stored, so nothing erased can come back."""


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

    async def recent_items(self, user: UserKey, user_turns: int) -> HistoryWindow:
        """The newest `user_turns` turns of history, each whole, starting at a user message,
        with the erase generation they were read at."""
        ...

    async def commit_turn(
        self,
        user: UserKey,
        items: Sequence[TResponseInputItem],
        changes: Sequence[MemoryChange] = (),
        *,
        source: MemorySource | None = None,
        usage: UsageRecord | None = None,
        generation: int | None = None,
        at: datetime | None = None,
    ) -> CommitResult:
        """Store one finished turn: its history items and memory changes, in one
        transaction; while memory is paused, nothing but forgetting. `source` (default: the
        key's front end) is kept with each item the turn saves. `usage` is added to the
        user's counts of that day and scope in the same transaction (paused or not: counts
        hold no content), and the result carries their new totals. With `generation` (what
        the turn read its memory at), raises `ErasedDuringTurn` and stores nothing when the
        person's memory has been erased since. `at` dates the turn (default: now)."""
        ...

    async def ping(self) -> None:
        """A cheap query that raises StoreError when the database does not answer (or, for
        a file, when it is no longer the file that was opened)."""
        ...

    async def memory(self, user: UserKey) -> UserMemory:
        """The user's memory items and whether memory is paused."""
        ...

    async def set_paused(self, user: UserKey, paused: bool) -> None:
        """Pause or resume the user's memory (kept across restarts)."""
        ...

    async def forget_item(self, user: UserKey, which: str) -> AppliedChange | None:
        """Erase one item ("name", "city" or its number): every value it ever had, in every
        written form, from stored history and the other items too."""
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

    async def search(
        self,
        user: UserKey,
        query: str,
        limit: int = 10,
        *,
        names: Mapping[str, str] | None = None,
        matched_only: bool = False,
    ) -> list[SearchHit]:
        """The user's best `limit` stored messages (theirs and the bot's replies) for
        `query`, best first, never anyone else's. `names` maps "user"/"assistant" to who is
        who (default: their remembered name); `matched_only` leaves out messages found only
        for standing next to a match."""
        ...

    async def forget(self, user: UserKey) -> ForgetReport:
        """Erase the user's history and memory: unreadable at once (one short transaction),
        gone from the files when `ForgetReport.pending` is None; report what was erased."""
        ...


class PlaceStore(Protocol):
    """Server and channel settings, and usage counts: the operator's side of the database.
    Settings are rows of (server, channel, name, JSON value); usage is counted per UTC day,
    scope (a server, or a front end's DMs) and user."""

    async def place_settings(self, server_key: str) -> list[SettingRow]:
        """Every setting of one server and its channels."""
        ...

    async def set_place_setting(
        self, server_key: str, channel: str, name: str, value: str | None, *, by: UserKey
    ) -> None:
        """Store one setting (a JSON value; None removes it), noting who changed it."""
        ...

    async def usage_by_user(self, scope: str, first: date, last: date) -> Mapping[str, UsageCounts]:
        """Each user's counts in `scope` over the days `first` to `last` (inclusive), by
        user key; users with none are left out."""
        ...

    async def usage_of(
        self, user: UserKey, first: date, last: date, scope: str | None = None
    ) -> UsageCounts:
        """One user's counts over the days `first` to `last`, in `scope` or everywhere."""
        ...


class ChatStore(MemoryStore, PlaceStore, Protocol):
    """Both contracts: what the chat service runs on."""
