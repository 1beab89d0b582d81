"""The memory tools the agent calls, and the per-run context they act through.

The caller's identity reaches the tools only through `UserContext` (the run context), never as
a tool argument, so no model output can read or write another person's memory. Every change
is held in the context and stored with the turn's history in one transaction when the turn
completes, so a failed turn changes nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agents import RunContextWrapper, function_tool

from .domain import (
    FACT_NAMES,
    MAX_NOTE_CHARS,
    MAX_NOTES,
    MemoryChange,
    MemorySource,
    UserKey,
    UserMemory,
    plan_changes,
    same_note,
    utc_now,
)
from .places import Place
from .syntax import CommandSyntax
from .text import without_surrogates

if TYPE_CHECKING:
    from .store import MemoryStore

MAX_FACT_CHARS = 100


@dataclass
class UserContext:
    """Per-run facts for the tools: whose memory this turn touches, where it lives, and how
    that person types commands (for the hints a tool's answer carries)."""

    user: UserKey
    store: MemoryStore
    syntax: CommandSyntax = field(default_factory=CommandSyntax)
    changes: list[MemoryChange] = field(default_factory=list)
    stored: UserMemory | None = field(default=None, repr=False)
    # Where the message was written, and the (whose, text) house rules its server and channel
    # give the agent, below the fixed rules (`agent.instructions`).
    place: Place | None = None
    house_rules: list[tuple[str, str]] = field(default_factory=list)

    async def view(self) -> UserMemory:
        """Memory as it will be once this turn's changes are stored (read once per turn)."""
        if self.stored is None:
            self.stored = await self.store.memory(self.user)
        source = MemorySource(self.user.frontend)
        after, _ = plan_changes(self.stored, self.changes, stamp=utc_now(), source=source)
        return after

    def paused(self) -> str:
        """What a tool says when memory is paused."""
        return (
            "memory is paused: nothing is stored until the person types "
            f"{self.syntax('memory', 'on')}"
        )


# Control characters (Cc), invisible format characters (Cf: zero-width space/joiners, bidi
# overrides) and lone surrogates (Cs: not text at all, and unstorable as UTF-8) are stripped;
# everything else, quotes and emoji included, is kept verbatim.
_INVISIBLE = {"Cc", "Cf", "Cs"}
_SPACES = re.compile(r"\s+")


def _visible(value: str) -> str:
    visible = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in value
        if ch in "\t\n\r" or unicodedata.category(ch) not in _INVISIBLE
    )
    return _SPACES.sub(" ", visible).strip()


def clean_fact_value(value: str) -> str:
    """A fact value as stored: visible characters only, single-spaced, capped in length."""
    return _visible(value)[:MAX_FACT_CHARS].strip()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


@function_tool
async def save_facts(
    ctx: RunContextWrapper[UserContext],
    name: str | None = None,
    city: str | None = None,
) -> str:
    """Remember the user's name and/or city. Pass only the facts the user just stated.

    Args:
        name: The name the user wants to be called, exactly as they gave it.
        city: The city the user lives in, exactly as they gave it.
    """
    if (await ctx.context.view()).paused:
        return _dumps({"saved": {}, "error": ctx.context.paused()})
    saved: dict[str, str] = {}
    for fact, raw in (("name", name), ("city", city)):
        value = clean_fact_value(raw) if raw is not None else ""
        if value:
            ctx.context.changes.append(
                MemoryChange("set", kind=fact, value=value, raw=without_surrogates(raw))
            )
            saved[fact] = value
    if not saved:
        return _dumps({"saved": {}, "error": "no name or city given"})
    return _dumps({"saved": saved})


@function_tool
async def read_facts(ctx: RunContextWrapper[UserContext]) -> str:
    """Read what is remembered about the user: their name and city (null when unknown) and
    the notes they asked to be remembered, each with its number."""
    memory = await ctx.context.view()
    facts = memory.facts()
    result: dict[str, object] = {fact: facts.get(fact) for fact in FACT_NAMES}
    result["notes"] = [{"number": n.number, "note": n.value} for n in memory.notes()]
    if memory.paused:
        result["memory_paused"] = True
    return _dumps(result)


@function_tool
async def remember(ctx: RunContextWrapper[UserContext], note: str) -> str:
    """Remember a short note the user told you about themselves or asked you to remember
    (e.g. "I'm vegetarian", "my dog is called Rex"). Not for name or city: use save_facts.

    Args:
        note: The note, in the user's words, at most 200 characters.
    """
    text = _visible(note)
    if not text:
        return _dumps({"remembered": None, "error": "the note is empty"})
    if len(text) > MAX_NOTE_CHARS:
        return _dumps(
            {
                "remembered": None,
                "error": f"the note has {len(text)} characters; notes hold at most "
                f"{MAX_NOTE_CHARS}: save a shorter version",
            }
        )
    memory = await ctx.context.view()
    if memory.paused:
        return _dumps({"remembered": None, "error": ctx.context.paused()})
    notes = memory.notes()
    for existing in notes:
        if same_note(existing.value, text):
            kept = {"number": existing.number, "note": existing.value}
            return _dumps({"already_remembered": kept})
    if len(notes) >= MAX_NOTES:
        return _dumps(
            {
                "remembered": None,
                "error": f"memory is full ({MAX_NOTES} notes): tell the person to forget a "
                f"note first with {ctx.context.syntax('forget', '<number>')}",
            }
        )
    ctx.context.changes.append(
        MemoryChange("add", kind="note", value=text, raw=without_surrogates(note))
    )
    return _dumps({"remembered": {"number": memory.next_number, "note": text}})


@function_tool
async def forget_memory(ctx: RunContextWrapper[UserContext], item: str) -> str:
    """Forget one remembered item when the user asks you to. Its value is also removed from
    the stored conversation.

    Args:
        item: Which item: "name", "city", or a note's number from read_facts.
    """
    memory = await ctx.context.view()
    target = memory.find(item)
    if target is None:
        return _dumps(
            {"forgotten": None, "error": f"there is no item {item!r}; read_facts lists them"}
        )
    ctx.context.changes.append(
        MemoryChange("forget", kind=target.kind, value=target.value, number=target.number)
    )
    return _dumps(
        {"forgotten": {"number": target.number, "kind": target.kind, "value": target.value}}
    )


# The most a search tool's answer holds: what the model is given back stays small.
MAX_SEARCH_CHARS = 2_000
MAX_SEARCH_RESULTS = 10


@function_tool
async def search_history(ctx: RunContextWrapper[UserContext], query: str, limit: int = 5) -> str:
    """Search everything the user ever said to you, and your replies, for something older
    than the conversation you can see. Returns the best matches, each with the date it was
    said, who said it ("user" or "you") and its text.

    Args:
        query: A few words naming what to look for, e.g. "sister wedding".
        limit: How many matches to return, from 1 to 10.
    """
    wanted = max(1, min(MAX_SEARCH_RESULTS, limit))
    hits = await ctx.context.store.search(ctx.context.user, _visible(query), wanted)
    matches: list[dict[str, str]] = []
    for hit in hits:
        entry = {
            "date": hit.said_at.date().isoformat(),
            "who": "user" if hit.role == "user" else "you",
            "text": hit.text,
        }
        if len(_dumps({"matches": [*matches, entry]})) > MAX_SEARCH_CHARS:
            break
        matches.append(entry)
    if not matches:
        return _dumps({"matches": [], "note": "nothing the user said matches that"})
    return _dumps({"matches": matches})
