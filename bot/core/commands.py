"""The chat commands every front end shares: `!memory`, `!forget`, `!history`, `!export`,
`!help`. Each acts on the caller's own memory only (the key comes from the front end)."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ..memory import ForgetReport, HistoryPage, MemoryStore
from ..memory.items import AppliedChange, UserMemory
from .render import render_forget, render_history, render_item_forgotten, render_memory

log = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 10
MAX_PAGE = 1_000_000
# What a failed command was trying to do, for its one-sentence answer.
COMMAND_ACTIONS = {
    "history": "show your history",
    "forget": "erase your memory",
    "export": "export your memory",
    "memory": "change your memory settings",
}

# History items encoded per step of `encode_export` (C encoder: a fraction of a millisecond),
# and the pause after each step. The pause must be a real wait, not `sleep(0)`: while the loop
# thread computes it keeps the GIL, and the database driver's threads (other users' queries)
# get it only after the 5 ms switch interval; idle in the selector, the loop releases it.
EXPORT_CHUNK = 100
EXPORT_PAUSE_S = 0.0005

__all__ = ["HISTORY_PAGE_SIZE", "MAX_PAGE", "MemoryCommands", "encode_export"]


async def encode_export(data: dict[str, Any]) -> str:
    """An export as indented JSON text, each history item on one line, "history" last.

    Encoded on the loop a few items at a time with json's C encoder (no `indent`): an
    indented dump of a long history takes the pure-Python encoder, which in a worker thread
    holds the GIL for milliseconds at a stretch, and every database round trip of other
    users' turns waits on it. Short steps with pauses let those turns run in between."""
    history = data.get("history") or []
    head = json.dumps(
        {k: v for k, v in data.items() if k != "history"}, ensure_ascii=False, indent=2
    )
    parts = ["{\n" if head == "{}" else head[:-2] + ",\n", '  "history": [']
    for start in range(0, len(history), EXPORT_CHUNK):
        chunk = history[start : start + EXPORT_CHUNK]
        parts.append(
            ("\n    " if start == 0 else ",\n    ")
            + ",\n    ".join(json.dumps(item, ensure_ascii=False) for item in chunk)
        )
        await asyncio.sleep(EXPORT_PAUSE_S)
    parts.append("\n  ]\n}" if history else "]\n}")
    return "".join(parts)


class MemoryCommands:
    """The chat commands over a person's memory. Mixed into `ChatService`, which supplies the
    store, the command prefix, the per-user turn lock and the handling of failures."""

    store: MemoryStore
    command_prefix: str

    if TYPE_CHECKING:

        def _user_lock(self, user_key: str) -> AbstractAsyncContextManager[None]: ...

        def command_failure(self, exc: BaseException, action: str) -> str: ...

    async def run_command(self, user_key: str, line: str) -> str:
        """The answer to one command line (without its prefix): `history 2`, `forget city`.
        A command that fails answers one sentence (`command_failure`) instead of raising."""
        command, _, argument = line.partition(" ")
        command = command.lower()
        try:
            return await self._command(user_key, command, argument)
        except Exception as exc:
            action = COMMAND_ACTIONS.get(command, "run that command")
            return self.command_failure(exc, action)

    async def history_view(
        self, user_key: str, page: int = 1, per_page: int = HISTORY_PAGE_SIZE
    ) -> tuple[dict[str, str], HistoryPage]:
        """The user's facts and one page of their history (page 1 is the newest)."""
        # Far past the end is simply "no such page"; it must not overflow SQLite's OFFSET.
        page = min(page, MAX_PAGE)
        facts = await self.store.facts(user_key)
        return facts, await self.store.history_page(user_key, page, per_page)

    async def history(self, user_key: str, page: int = 1) -> str:
        """The rendered `!history` page for this user: memory items, then the conversation."""
        page = min(page, MAX_PAGE)
        memory = await self.store.memory(user_key)
        stored = await self.store.history_page(user_key, page, HISTORY_PAGE_SIZE)
        return render_history(memory, stored)

    async def forget(self, user_key: str) -> tuple[ForgetReport, str]:
        """Erase this user's memory; waits for their running turn so nothing reappears."""
        async with self._user_lock(user_key):
            report = await self.store.forget(user_key)
        return report, render_forget(report)

    async def forget_item(self, user_key: str, which: str) -> tuple[AppliedChange | None, str]:
        """Erase one memory item ("name", "city" or its number) and its value from stored
        history; waits for the user's running turn so nothing reappears."""
        async with self._user_lock(user_key):
            change = await self.store.forget_item(user_key, which)
        return change, render_item_forgotten(change, which.strip(), self.command_prefix)

    async def memory(self, user_key: str) -> UserMemory:
        """The user's memory items and whether memory is paused."""
        return await self.store.memory(user_key)

    async def set_memory_paused(self, user_key: str, paused: bool) -> str:
        """Pause or resume the user's memory; the reply to show."""
        await self.store.set_paused(user_key, paused)
        p = self.command_prefix
        if paused:
            return (
                "Memory is paused. I'll still answer, and can read what I already remember, "
                f"but I won't store anything new (no history, no notes). {p}memory on resumes."
            )
        return f"Memory is on again: I'll remember our conversation. {p}memory off pauses it."

    async def export(self, user_key: str) -> dict[str, Any]:
        """Everything stored about this user, JSON-ready."""
        return await self.store.export(user_key)

    async def export_json(self, user_key: str) -> str:
        """`export` as indented JSON text (as `json.dumps(..., indent=2)` writes it)."""
        return await encode_export(await self.export(user_key))

    def help_text(self) -> str:
        p = self.command_prefix
        return "\n".join(
            [
                "Talk to me normally; I remember your name, your city, notes you ask me to "
                "keep, and our conversation.",
                f"{p}memory          list what I remember, each item with its number",
                f"{p}memory off|on   pause memory (nothing new is stored) or resume it",
                f"{p}forget <n>      erase one item: a number, or name, or city",
                f"{p}forget          erase everything I've stored about you",
                f"{p}history [page]  show what I've stored about you (page 1 is the newest)",
                f"{p}export          everything I've stored about you, as JSON",
                f"{p}help            this message",
            ]
        )

    async def _forget_command(self, user_key: str, argument: str) -> str:
        which = argument.strip().lower().lstrip("#")
        if which not in ("name", "city") and not (which.isascii() and which.isdigit()):
            p = self.command_prefix
            return f"Usage: {p}forget (everything), or {p}forget name, city or a number."
        return (await self.forget_item(user_key, which))[1]

    async def _memory_command(self, user_key: str, argument: str) -> str:
        state = argument.strip().lower()
        if state in ("off", "on"):
            return await self.set_memory_paused(user_key, state == "off")
        if state:
            return f"Usage: {self.command_prefix}memory [on|off]."
        return render_memory(await self.memory(user_key), self.command_prefix)

    async def _command(self, user_key: str, command: str, argument: str) -> str:
        if command == "history":
            return await self._history_command(user_key, argument)
        if command == "forget":
            if argument.strip():
                return await self._forget_command(user_key, argument)
            return (await self.forget(user_key))[1]
        if command == "memory":
            return await self._memory_command(user_key, argument)
        if command == "export":
            return await self.export_json(user_key)
        if command == "help":
            return self.help_text()
        # Whatever was typed is shown back cut short: a command name can be any length.
        shown = command[:40] + ("…" if len(command) > 40 else "")
        return f"Unknown command {self.command_prefix}{shown}. Try {self.command_prefix}help."

    async def _history_command(self, user_key: str, argument: str) -> str:
        argument = argument.strip()
        if not argument:
            return await self.history(user_key)
        if not (argument.isascii() and argument.isdigit()) or int(argument) < 1:
            return f"Usage: {self.command_prefix}history [page], where page is 1 or more."
        return await self.history(user_key, int(argument))
