"""The domain: whose memory (`UserKey`), what is remembered (items, changes), what a store
returns (history pages, commit results, forget reports). No storage and no front end here;
`memory/` stores these types and front ends render them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from agents import TResponseInputItem

from .usage import UsageCounts

FACT_NAMES = ("name", "city")
MAX_NOTE_CHARS = 200
MAX_NOTES = 50


def utc_now() -> datetime:
    """This moment in UTC, to the second: the timestamps memory keeps."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, order=True)
class UserKey:
    """Whose memory: a front end and the person's id there. Stored as its text,
    `discord:<id>`, `slack:<team>:<user>`, `console:<id>` (the SDK's session id), so the same
    person on two platforms is two memories."""

    frontend: str
    id: str

    def __str__(self) -> str:
        # A key with no front end (written by other software) is its id alone.
        return f"{self.frontend}:{self.id}" if self.frontend else self.id

    @classmethod
    def parse(cls, text: str) -> UserKey:
        """The key a stored text stands for: `str(UserKey.parse(text)) == text`."""
        frontend, sep, rest = text.partition(":")
        return cls(frontend, rest) if sep else cls("", text)


@dataclass(frozen=True)
class HistoryPage:
    """One page of a user's stored history: whole turns (a turn starts at a message the
    person typed), oldest first within the page; page 1 is the newest."""

    items: list[TResponseInputItem]
    page: int
    pages: int
    total: int  # items stored
    turns: int = 0  # turns stored
    first_turn: int = 0  # the turns on this page, counted from the oldest (1)
    last_turn: int = 0


@dataclass(frozen=True)
class HistoryWindow:
    """The newest turns of a person's history, and the erase generation they were read at
    (None when there were none to read)."""

    items: list[TResponseInputItem]
    generation: int | None = None


@dataclass(frozen=True)
class ForgetReport:
    """What `forget` erased. `pending` is None once the erased text is gone from the
    database's files too; otherwise it says why that is still to come (it is retried until
    done, across restarts)."""

    history_items: int
    facts: dict[str, str]
    notes: list[str] = field(default_factory=list)
    pending: str | None = None

    @property
    def empty(self) -> bool:
        return self.history_items == 0 and not self.facts and not self.notes


@dataclass(frozen=True)
class MemorySource:
    """Where a memory item came from: the front end, and the message where it has one."""

    frontend: str
    ref: str | None = None  # a message id or link


@dataclass(frozen=True)
class MemoryItem:
    """One thing remembered about a person: their name, their city, or a note."""

    number: int
    kind: str  # name | city | note
    value: str
    created_at: datetime
    updated_at: datetime
    source: MemorySource


@dataclass(frozen=True)
class UserMemory:
    """Everything remembered about one person, in item-number order."""

    items: list[MemoryItem]
    paused: bool = False
    next_number: int = 1
    # Counts this person's erasures: a turn that read their memory at one generation is
    # not stored at another (an erase happened meanwhile, perhaps in another process).
    generation: int = 0

    def facts(self) -> dict[str, str]:
        return {i.kind: i.value for i in self.items if i.kind in FACT_NAMES}

    def notes(self) -> list[MemoryItem]:
        return [i for i in self.items if i.kind == "note"]

    def find(self, which: str) -> MemoryItem | None:
        """The item `which` names: "name", "city", or its number (as text)."""
        ref = parse_item_ref(which)
        for item in self.items:
            if ref is not None and (
                item.kind == ref if ref in FACT_NAMES else item.number == int(ref)
            ):
                return item
        return None


@dataclass(frozen=True)
class MemoryChange:
    """One change a turn makes to memory, applied with the turn's history when it commits:
    set a name or city, add a note, or forget an item (by number)."""

    action: Literal["set", "add", "forget"]
    kind: str = "note"
    value: str = ""
    number: int | None = None
    # The value as the model gave it, before it was cleaned and cut: a written form that
    # forgetting the item must also erase.
    raw: str | None = None


@dataclass(frozen=True)
class AppliedChange:
    """A change as it was stored: the item's number, and what it replaced or erased."""

    action: Literal["set", "add", "forget"]
    kind: str
    number: int
    value: str
    previous: str | None = None  # set: the value it replaced
    redacted: int = 0  # forget: stored history items the value was removed from
    pending: str | None = None  # forget: as ForgetReport.pending


def same_note(a: str, b: str) -> bool:
    """Notes that differ only in case or spacing are the same note."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def plan_changes(
    memory: UserMemory,
    changes: list[MemoryChange],
    *,
    stamp: datetime,
    source: MemorySource,
) -> tuple[UserMemory, list[AppliedChange]]:
    """Memory after `changes`, in order, and what each did. A duplicate note, a note past
    the cap, an unchanged value and an unknown number do nothing. The tools preview a turn
    with it and the store applies it, so what a tool reports is what gets stored."""
    items = {item.number: item for item in memory.items}
    next_number = memory.next_number
    applied: list[AppliedChange] = []
    for change in changes:
        if change.action == "forget":
            gone = items.pop(change.number or 0, None)
            if gone is not None:
                applied.append(AppliedChange("forget", gone.kind, gone.number, gone.value))
            continue
        current = next((i for i in items.values() if i.kind == change.kind), None)
        if change.action == "set" and current is not None:
            if current.value != change.value:
                items[current.number] = replace(
                    current, value=change.value, updated_at=stamp, source=source
                )
                applied.append(
                    AppliedChange("set", change.kind, current.number, change.value, current.value)
                )
            continue
        notes = [i for i in items.values() if i.kind == "note"]
        if change.action == "add" and (
            len(notes) >= MAX_NOTES or any(same_note(i.value, change.value) for i in notes)
        ):
            continue
        number, next_number = next_number, next_number + 1
        items[number] = MemoryItem(number, change.kind, change.value, stamp, stamp, source)
        applied.append(AppliedChange(change.action, change.kind, number, change.value))
    after = UserMemory(
        sorted(items.values(), key=lambda i: i.number),
        memory.paused,
        next_number,
        memory.generation,
    )
    return after, applied


def written_forms(after: UserMemory, changes: list[MemoryChange]) -> list[tuple[int, str]]:
    """(item number, text) for every form in which `changes` wrote an item's value: the value
    as stored and as the model gave it, for the item it now belongs to in `after` (a
    duplicate note's forms belong to the note it repeats). Forgetting an item erases them."""
    forms: list[tuple[int, str]] = []
    for change in changes:
        if change.action == "forget":
            continue
        for item in after.items:
            if item.kind == change.kind and (
                change.action == "set" or same_note(item.value, change.value)
            ):
                forms += [(item.number, text) for text in (change.value, change.raw) if text]
                break
    return forms


@dataclass(frozen=True)
class SearchHit:
    """One thing a person (or the bot, to them) said, found by a search: when, who
    ("user" or "assistant") and the text, or the part of it around the match."""

    said_at: datetime
    role: str
    text: str


@dataclass(frozen=True)
class CommitResult:
    """What `commit_turn` stored: nothing at all while memory is paused."""

    stored: bool = True
    changes: list[AppliedChange] = field(default_factory=list)
    items: list[TResponseInputItem] = field(default_factory=list)  # as stored (redacted)
    # The author's usage in the turn's scope today, this turn included (when usage was given).
    usage_today: UsageCounts | None = None


def parse_item_ref(text: str) -> str | None:
    """The item a person names in `forget <item>`: "name", "city" or a number (as text);
    None when it names none of them."""
    which = text.strip().lower().lstrip("#")
    if which in FACT_NAMES or (which.isascii() and which.isdigit()):
        return which
    return None


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
