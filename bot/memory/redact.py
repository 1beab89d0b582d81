"""Removing a forgotten value from stored text, in every written form.

A value is matched on a folded form of both it and the text: Unicode compatibility-composed
(NFKC, so `Zoe` + a combining diaeresis, full-width letters and ligatures read as they look),
with invisible format characters (zero-width spaces and joiners, bidi marks) dropped, case
folded and every kind of apostrophe made one. A match is a whole word (or run of words, any
spacing) of the folded text; the original characters it covers, invisible ones inside it
included, are replaced by `[forgotten]`. Tool arguments and outputs are JSON inside a string,
where a model may have escaped characters (`S\\u00e3o Paulo`), so strings that hold JSON are
decoded, redacted and encoded again, and an escape left in other text (a cut argument) reads
as its character. Redacting too much is acceptable; leaving the value anywhere is not.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FORGOTTEN = "[forgotten]"
# Apostrophes and quotes as phones and keyboards type them all read as one.
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc`\u2032", "'"))
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _attached(ch: str) -> bool:
    """Characters that belong to the one before them: combining marks, and invisible
    format characters (which folding then drops)."""
    return unicodedata.category(ch) in {"Mn", "Mc", "Me", "Cf"}


def fold(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The folded form of `text` and, for each of its characters, the span of `text` it
    came from (a base character with the marks and invisible characters after it)."""
    folded: list[str] = []
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        escaped = _ESCAPE.match(text, start)
        if escaped:
            # A JSON escape left in text that is not whole JSON (a cut tool argument).
            end, cluster = escaped.end(), chr(int(escaped.group(1), 16))
        else:
            end, cluster = start + 1, text[start]
        while end < len(text) and _attached(text[end]):
            cluster += text[end]
            end += 1
        cluster = unicodedata.normalize("NFKC", cluster)
        piece = "".join(ch for ch in cluster if unicodedata.category(ch) != "Cf")
        piece = piece.casefold().translate(_APOSTROPHES)
        folded.append(piece)
        spans += [(start, end)] * len(piece)
        start = end
    return "".join(folded), spans


def folded_value(value: str) -> str:
    """A value as it is matched: folded, with its spacing collapsed."""
    return " ".join(fold(value)[0].split())


@dataclass(frozen=True)
class Forgotten:
    """What to erase: one pattern over folded text matching any of the values."""

    pattern: re.Pattern[str]

    def sub(self, text: str) -> str:
        """`text` with every match replaced by FORGOTTEN."""
        folded, spans = fold(text)
        cuts = [(spans[m.start()][0], spans[m.end() - 1][1]) for m in self.pattern.finditer(folded)]
        if not cuts:
            return text
        parts, last = [], 0
        for start, end in cuts:
            if start < last:  # overlapping spans of one cluster: already cut
                continue
            parts += [text[last:start], FORGOTTEN]
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def search(self, text: str) -> bool:
        return self.pattern.search(fold(text)[0]) is not None


def pattern(values: Iterable[str]) -> Forgotten | None:
    """What matches any of `values` (whole words, in any written form, any spacing); None
    when there is nothing to match."""
    alternatives = []
    for value in sorted({folded_value(v) for v in values} - {""}, key=len, reverse=True):
        alternatives.append(r"\s+".join(re.escape(word) for word in value.split(" ")))
    if not alternatives:
        return None
    return Forgotten(re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)"))


def redact(value: Any, forgotten: Forgotten) -> Any:
    """`value` (an item, or any part of one) with every match replaced."""
    if isinstance(value, str):
        return _redact_text(value, forgotten)
    if isinstance(value, list):
        return [redact(v, forgotten) for v in value]
    if isinstance(value, dict):
        return {k: redact(v, forgotten) for k, v in value.items()}
    return value


def _redact_text(text: str, forgotten: Forgotten) -> str:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = json.loads(text)
        except ValueError:
            pass
        else:
            cleaned = redact(decoded, forgotten)
            if cleaned != decoded:
                text = json.dumps(cleaned, ensure_ascii=False)
    return forgotten.sub(text)
