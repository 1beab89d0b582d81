"""Removing a forgotten value from stored history items.

Every string in an item (message text, tool arguments and outputs, replies) has each
whole-word, case-insensitive occurrence of the value replaced by `[forgotten]`. Tool arguments
and outputs are JSON inside a string, where a model may have escaped non-ASCII characters
(`S\\u00e3o Paulo`), so strings that hold JSON are decoded, redacted and encoded again.
Redacting too much is acceptable; leaving the value anywhere is not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

FORGOTTEN = "[forgotten]"
# Apostrophes and quotes as phones and keyboards type them all match one another.
_APOSTROPHES = "'\u2019\u2018\u02bc`\u2032"


def pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of `values` as whole words, ignoring case, spacing and the
    kind of apostrophe; None when there is nothing to match."""
    alternatives = []
    for value in sorted({v.strip() for v in values if v.strip()}, key=len, reverse=True):
        parts = []
        for ch in value:
            if ch.isspace():
                if parts and parts[-1] != r"\s+":
                    parts.append(r"\s+")
            elif ch in _APOSTROPHES:
                parts.append(f"[{re.escape(_APOSTROPHES)}]")
            else:
                parts.append(re.escape(ch))
        alternatives.append("".join(parts))
    if not alternatives:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)", re.IGNORECASE)


def redact(value: Any, forgotten: re.Pattern[str]) -> Any:
    """`value` (an item, or any part of one) with every match replaced."""
    if isinstance(value, str):
        return _redact_text(value, forgotten)
    if isinstance(value, list):
        return [redact(v, forgotten) for v in value]
    if isinstance(value, dict):
        return {k: redact(v, forgotten) for k, v in value.items()}
    return value


def _redact_text(text: str, forgotten: re.Pattern[str]) -> str:
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
    return forgotten.sub(FORGOTTEN, text)
