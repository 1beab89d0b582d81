"""Recognise requests to remember a note, to forget something, or to recall something said
long ago, for the offline model.

"remember that I'm vegetarian", "please remember my dog is called Rex", "forget my city",
"forget note 3", "forget that I'm vegetarian"; "what did I say about the wedding?", "do you
remember the trip to Rome?", "when did I move to Porto?", "did I ever mention my sister?". As
in `parser.py`, a message that does not clearly ask is left alone: the offline model then
answers as it would anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ForgetEverything",
    "ForgetItem",
    "ForgetNote",
    "RememberNote",
    "SearchHistory",
    "match_note",
    "parse_memory_request",
    "parse_search_request",
]


@dataclass(frozen=True)
class RememberNote:
    note: str


@dataclass(frozen=True)
class ForgetItem:
    item: str  # "name", "city", or a number


@dataclass(frozen=True)
class ForgetNote:
    text: str  # words of the note to forget


@dataclass(frozen=True)
class ForgetEverything:
    pass


@dataclass(frozen=True)
class SearchHistory:
    query: str  # what to search for: the topic (after "when" for a question about time)
    topic: str  # what it is about, in the person's words


MemoryRequest = RememberNote | ForgetItem | ForgetNote | ForgetEverything

_FOLD = str.maketrans("\u2019\u2018\u02bc\u2032`", "'''''")
_LEAD = r"^(?:(?:hi|hey|hello|ok|okay|so|and|also|oh|bot)\b[\s,!.]*)*"
_POLITE = r"(?:please\s+|pls\s+|kindly\s+)?(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
_REMEMBER = re.compile(
    _LEAD + _POLITE + r"(?P<ask>remember|note|keep\s+in\s+mind)(?:\s+that\b|\s*:|\s*,)?\s+"
    r"(?P<what>.+?)[\s.!]*(?P<q>\?)?[\s.!?]*$",
    re.IGNORECASE | re.DOTALL,
)
_FORGET = re.compile(
    _LEAD + _POLITE + r"forget\s+(?:about\s+)?(?P<what>.+?)[\s.!?]*$",
    re.IGNORECASE | re.DOTALL,
)
_NAME = re.compile(r"(?:my\s+)?(?:first\s+|full\s+)?name", re.IGNORECASE)
_CITY = re.compile(
    r"(?:my\s+)?(?:city|home\s*town|town)|where\s+i\s+live|where\s+i'?m\s+from", re.IGNORECASE
)
_NUMBER = re.compile(r"(?:(?:note|item|number|no\.?)\s*)?#?\s*(\d{1,4})", re.IGNORECASE)
_EVERYTHING = re.compile(
    r"(?:it\s+)?all|everything(?:\s+about\s+me)?|(?:all\s+)?about\s+me|me", re.IGNORECASE
)
_THAT = re.compile(r"^(?:that|the\s+fact\s+that|the\s+note\s+(?:that|about))\s+", re.IGNORECASE)
_WORD = re.compile(r"\w{3,}")


def parse_memory_request(text: str) -> MemoryRequest | None:
    """What the message asks to remember or forget, if it clearly asks."""
    clean = " ".join(unicodedata.normalize("NFC", text or "").translate(_FOLD).split())
    if m := _FORGET.match(clean):
        what = m.group("what").strip(" ,")
        if _NAME.fullmatch(what):
            return ForgetItem("name")
        if _CITY.fullmatch(what):
            return ForgetItem("city")
        if number := _NUMBER.fullmatch(what):
            return ForgetItem(number.group(1))
        if _EVERYTHING.fullmatch(what):
            return ForgetEverything()
        what = _THAT.sub("", what).strip()
        return ForgetNote(what) if _WORD.search(what) else None
    if m := _REMEMBER.match(clean):
        what = m.group("what").strip(" ,")
        asked = re.match(_LEAD + _POLITE, clean, re.IGNORECASE)
        polite = bool(asked and asked.group().strip())
        if m.group("q") and not polite:
            return None  # "remember my name?" asks; it does not tell
        if _WORD.search(what) and what.lower() not in {"me", "this", "that", "it"}:
            return RememberNote(what)
    return None


def _words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def match_note(notes: Sequence[Any], text: str) -> int | None:
    """The number of the stored note `text` describes: the same words, one inside the
    other, or most of its words in common; None when no note is close enough."""
    wanted = " ".join(text.casefold().split())
    best: tuple[float, int] | None = None
    for entry in notes:
        if not isinstance(entry, dict) or not isinstance(entry.get("number"), int):
            continue
        note = " ".join(str(entry.get("note", "")).casefold().split())
        if note == wanted:
            return entry["number"]
        if wanted and (wanted in note or note in wanted):
            score = 0.9
        else:
            mine, theirs = _words(wanted), _words(note)
            score = len(mine & theirs) / max(1, len(mine | theirs))
        if score >= 0.5 and (best is None or score > best[0]):
            best = (score, entry["number"])
    return best[1] if best else None


_RECALL = (
    re.compile(
        _LEAD + r"what\s+(?:did|have|had)\s+i\s+(?:ever\s+)?(?:say|said|tell|told|mention|"
        r"mentioned|write|wrote)(?:\s+you|\s+to\s+you)?\s+(?:about|of|regarding)\s+(?P<what>.+)",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(
        # Not "can you remember …": that asks to keep a note.
        _LEAD + r"(?:do|did)\s+you\s+(?:still\s+)?(?:remember|recall)\s+"
        r"(?:(?:when|that|what|how)\s+i\s+)?(?P<what>.+)",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(
        _LEAD + r"(?:did|have|had)\s+i\s+ever\s+(?:mention(?:ed)?|talk(?:ed)?\s+about|"
        r"(?:tell|told)\s+you\s+about|say|said)\s+(?:anything\s+about\s+)?(?P<what>.+)",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(_LEAD + r"when\s+(?:did|was|were|have|had)\s+i\s+(?P<what>.+)", re.IGNORECASE),
)
# What such a question may be about and still be the profile's business, not a search.
_ABOUT_PROFILE = re.compile(
    r"^(?:me|myself|(?:my\s+)?(?:name|city|home\s*town)|who\s+i\s+am|where\s+i\s+(?:live|"
    r"am\s+from|'m\s+from|come\s+from)|anything(?:\s+about\s+me)?|everything|it|that|this)$",
    re.IGNORECASE,
)


def parse_search_request(text: str) -> SearchHistory | None:
    """What the message asks to find in what the person said before, if it clearly asks."""
    clean = " ".join(unicodedata.normalize("NFC", text or "").translate(_FOLD).split())
    for pattern in _RECALL:
        if m := pattern.match(clean):
            topic = m.group("what").strip(" ,.!?")
            if not _WORD.search(topic) or _ABOUT_PROFILE.match(topic):
                return None
            # The topic's words are what to find; "when" keeps the question's time cue, and
            # the question's own words ("say", "remember") would only find other questions.
            when = "when " if clean.lower().startswith("when") or " when " in clean.lower() else ""
            return SearchHistory(query=f"{when}{topic}", topic=topic)
    return None
