"""The chat commands every front end shares: `memory`, `forget`, `history`, `export`,
`usage`, `help`, and `config` for a server's admins. Each acts on the caller's own memory
only (the key comes from the front end); `config` on the server the front end names.

A front end hands over a parsed `Command` and its own `CommandSyntax`, so every hint names the
command the way people type it there (`!forget 3` in a terminal, `/memory forget 3` on Slack).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .admin import RAW_NAMES, Names
from .config_text import run_config_text
from .domain import (
    AppliedChange,
    ForgetReport,
    HistoryPage,
    SearchHit,
    UserKey,
    UserMemory,
    parse_item_ref,
)
from .pacing import paced
from .places import Place
from .render import (
    render_forget,
    render_history,
    render_item_forgotten,
    render_memory,
    render_search,
)
from .syntax import Command, CommandSyntax

if TYPE_CHECKING:
    from .admin import ServerAdmin
    from .admission import UserLocks
    from .failures import FailureLog
    from .store import MemoryStore

log = logging.getLogger(__name__)

# Whole turns per `history` page (a turn is the person's message and all it caused).
HISTORY_PAGE_TURNS = 3
SEARCH_PAGE_SIZE = 10
SEARCH_MAX_RESULTS = 50
_PAGE_SUFFIX = re.compile(r"^(?P<words>.*?)\s+page\s+(?P<page>\d{1,7})$", re.IGNORECASE)
# Far past the end is simply "no such page"; it must not overflow SQLite's integers (the
# page shown as missing is still the one asked for).
MAX_PAGE = 1_000_000


__all__ = [
    "HISTORY_PAGE_TURNS",
    "MAX_PAGE",
    "Commands",
    "HistoryView",
    "SearchView",
    "encode_export",
]


@dataclass(frozen=True)
class SearchView:
    """What `search` shows: one page of the best matches for the words, best first."""

    words: str
    hits: list[SearchHit]
    page: int
    pages: int
    total: int


def search_words(argument: str) -> tuple[str, int]:
    """The words to search for and the page asked for: `lisbon wedding page 2`."""
    found = _PAGE_SUFFIX.match(argument.strip())
    if found is None:
        return argument.strip(), 1
    return found.group("words").strip(), max(1, int(found.group("page")))


@dataclass(frozen=True)
class HistoryView:
    """What `history` shows: the memory items, and one page of stored history."""

    memory: UserMemory
    page: HistoryPage


async def encode_export(data: dict[str, Any]) -> str:
    """An export as indented JSON text, each history item on one line, "history" last.

    Encoded on the loop a few items at a time with json's C encoder (no `indent`): an
    indented dump of a long history takes the pure-Python encoder, which holds the GIL for
    milliseconds at a stretch wherever it runs, and every database round trip of other
    users' turns waits on it. Short steps, each followed by a pause in proportion to it
    (`pace`), let those turns run in between."""
    history = data.get("history") or []
    head = json.dumps(
        {k: v for k, v in data.items() if k != "history"}, ensure_ascii=False, indent=2
    )
    parts = ["{\n" if head == "{}" else head[:-2] + ",\n", '  "history": [']
    async for start, chunk in paced(history):
        parts.append(
            ("\n    " if start == 0 else ",\n    ")
            + ",\n    ".join(json.dumps(item, ensure_ascii=False) for item in chunk)
        )
    parts.append("\n  ]\n}" if history else "]\n}")
    return "".join(parts)


class Commands:
    """The chat commands over a person's memory. An erase waits for that person's running
    turn (`locks`), so nothing it read can be stored after it."""

    def __init__(
        self, store: MemoryStore, locks: UserLocks, failures: FailureLog, admin: ServerAdmin
    ) -> None:
        self.store = store
        self.admin = admin
        self._locks = locks
        self._failures = failures

    async def run(
        self,
        user: UserKey,
        command: Command,
        syntax: CommandSyntax,
        place: Place | None = None,
    ) -> str:
        """The answer to one command typed at `place` (default: the user's front end, no
        server). A command that fails answers one sentence (see
        `FailureLog.command_failed`) instead of raising."""
        place = place or Place(user.frontend)
        try:
            if command.name == "usage":
                return await self.admin.personal_usage(user, place)
            if command.name == "config":
                return await self.config(user, place, command.argument, syntax)
            return await self._dispatch(user, command, syntax)
        except Exception as exc:
            return self._failures.command_failed(exc, command.name)

    async def config(
        self,
        user: UserKey,
        place: Place,
        argument: str,
        syntax: CommandSyntax,
        *,
        names: Names = RAW_NAMES,
        user_key: Callable[[str], UserKey] | None = None,
    ) -> str:
        """`config <argument>` typed at `place` (see `config_text`); `user_key` turns a
        typed user id into a memory key (default: an id on the caller's front end)."""
        try:
            return await run_config_text(
                self.admin,
                place,
                user,
                argument,
                syntax,
                names=names,
                user_key=user_key or (lambda typed: UserKey(user.frontend, typed)),
            )
        except Exception as exc:
            return self._failures.command_failed(exc, "config")

    async def history_view(self, user: UserKey, page: int = 1) -> HistoryView:
        """The memory items and one page of history (page 1 is the newest), read at once."""
        memory, stored = await asyncio.gather(
            self.store.memory(user),
            self.store.history_page(user, min(page, MAX_PAGE), HISTORY_PAGE_TURNS),
        )
        if page > MAX_PAGE:
            stored = dataclasses.replace(stored, page=page)
        return HistoryView(memory, stored)

    async def history(
        self, user: UserKey, page: int = 1, syntax: CommandSyntax | None = None
    ) -> str:
        """The rendered `history` page: memory items, then the conversation."""
        view = await self.history_view(user, page)
        return render_history(view.memory, view.page, syntax or CommandSyntax())

    async def memory(self, user: UserKey) -> UserMemory:
        """The user's memory items and whether memory is paused."""
        return await self.store.memory(user)

    async def search_view(self, user: UserKey, words: str, page: int = 1) -> SearchView:
        """One page of what the user said (or was told) that matches `words`, best first."""
        hits = await self.store.search(user, words, SEARCH_MAX_RESULTS, matched_only=True)
        pages = max(1, -(-len(hits) // SEARCH_PAGE_SIZE))
        start = (page - 1) * SEARCH_PAGE_SIZE
        return SearchView(words, hits[start : start + SEARCH_PAGE_SIZE], page, pages, len(hits))

    async def set_paused(self, user: UserKey, paused: bool, syntax: CommandSyntax) -> str:
        """Pause or resume the user's memory; the reply to show."""
        await self.store.set_paused(user, paused)
        if paused:
            return (
                "Memory is paused. I'll still answer, and can read what I already remember, "
                f"but I won't store anything new (no history, no notes). "
                f"{syntax('memory', 'on')} resumes."
            )
        return (
            "Memory is on again: I'll remember our conversation. "
            f"{syntax('memory', 'off')} pauses it."
        )

    async def forget(self, user: UserKey) -> tuple[ForgetReport, str]:
        """Erase this user's memory; waits for their running turn so nothing reappears."""
        async with self._locks.hold(user):
            report = await self.store.forget(user)
        return report, render_forget(report)

    async def forget_item(
        self, user: UserKey, which: str, syntax: CommandSyntax
    ) -> tuple[AppliedChange | None, str]:
        """Erase one memory item ("name", "city" or its number) and its value from stored
        history; waits for the user's running turn so nothing reappears."""
        async with self._locks.hold(user):
            change = await self.store.forget_item(user, which)
        return change, render_item_forgotten(change, which.strip(), syntax)

    async def export(self, user: UserKey) -> dict[str, Any]:
        """Everything stored about this user, JSON-ready."""
        return await self.store.export(user)

    async def export_json(self, user: UserKey) -> str:
        """`export` as indented JSON text (as `json.dumps(..., indent=2)` writes it)."""
        return await encode_export(await self.export(user))

    @staticmethod
    def help_text(syntax: CommandSyntax) -> str:
        rows = [
            (syntax("memory"), "list what I remember, each item with its number"),
            (syntax("memory", "off|on"), "pause memory (nothing new is stored) or resume it"),
            (syntax("forget", "<n>"), "erase one item: a number, or name, or city"),
            (syntax("forget"), "erase everything I've stored about you"),
            (syntax("history", "[page]"), "show what I've stored about you (page 1 is the newest)"),
            (syntax("search", "<words>"), "find what you told me before, best first, with dates"),
            (syntax("export"), "everything I've stored about you, as JSON"),
            (syntax("usage"), "your messages and model tokens today and this month"),
            (syntax("help"), "this message"),
        ]
        width = max(len(typed) for typed, _ in rows) + 1
        return "\n".join(
            [
                "Talk to me normally; I remember your name, your city, notes you ask me to "
                "keep, and our conversation.",
                *(f"{typed:<{width}} {what}" for typed, what in rows),
            ]
        )

    async def _dispatch(self, user: UserKey, command: Command, syntax: CommandSyntax) -> str:
        name, argument = command.name, command.argument.strip()
        if name == "history":
            return await self._history_command(user, argument, syntax)
        if name == "forget":
            if not argument:
                return (await self.forget(user))[1]
            which = parse_item_ref(argument)
            if which is None:
                return (
                    f"Usage: {syntax('forget')} (everything), or {syntax('forget', 'name')}, "
                    "city or a number."
                )
            return (await self.forget_item(user, which, syntax))[1]
        if name == "memory":
            state = argument.lower()
            if state in ("off", "on"):
                return await self.set_paused(user, state == "off", syntax)
            if state:
                return f"Usage: {syntax('memory', '[on|off]')}."
            return render_memory(await self.memory(user), syntax)
        if name == "export":
            return await self.export_json(user)
        if name == "search":
            words, page = search_words(argument)
            if not words:
                return f"Usage: {syntax('search', '<words>')}, e.g. {syntax('search', 'wedding')}."
            return render_search(await self.search_view(user, words, page), syntax)
        if name == "help":
            return self.help_text(syntax)
        # Whatever was typed is shown back cut short: a command name can be any length.
        shown = name[:40] + ("…" if len(name) > 40 else "")
        return f"Unknown command {syntax(shown)}. Try {syntax('help')}."

    async def _history_command(self, user: UserKey, argument: str, syntax: CommandSyntax) -> str:
        if not argument:
            return await self.history(user, syntax=syntax)
        if not (argument.isascii() and argument.isdigit()) or int(argument) < 1:
            return f"Usage: {syntax('history', '[page]')}, where page is 1 or more."
        return await self.history(user, int(argument), syntax)
