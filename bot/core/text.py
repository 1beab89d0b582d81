"""Text at the core's boundary: cleaned of what is not valid text, and bounded in size.

Everything a person types, a model answers or a tool is given passes through here before it
is stored or shown, so a lone surrogate or a megabyte-long tool argument can never fail a turn
or be re-sent to the model on every later turn.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from agents import TResponseInputItem

# A reply longer than this is cut, saying so: at most seven Discord messages (or three Slack
# messages), while a long but reasonable answer (10,000 characters) still arrives whole.
MAX_REPLY_CHARS = 12_000
# A stored tool call's arguments or output longer than this is replaced by a short note: it
# would otherwise be re-sent to the model with every later turn of this person's history.
MAX_STORED_TOOL_CHARS = 2_000
TOOL_PREVIEW_CHARS = 200
EMPTY_ANSWER = "(The model gave an empty answer. Please try again, or rephrase.)"

_SURROGATES = re.compile("[\ud800-\udfff]")
_KEEP_CONTROLS = "\n\t"


def without_surrogates(text: str) -> str:
    """`text` with every lone surrogate (not encodable as UTF-8) replaced by U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def clean_text(text: str) -> str:
    """Input or reply text as stored and shown: valid Unicode, with no control characters
    (NUL, terminal escapes, ...) except newline and tab; carriage returns become newlines."""
    text = without_surrogates(text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in _KEEP_CONTROLS or unicodedata.category(ch) != "Cc")


def has_surrogates(value: Any) -> bool:
    """True when any string in a JSON-like value (keys too) holds a lone surrogate."""
    if isinstance(value, str):
        return _SURROGATES.search(value) is not None
    if isinstance(value, dict):
        return any(has_surrogates(k) or has_surrogates(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_surrogates(v) for v in value)
    return False


def clean_strings(value: Any) -> Any:
    """A JSON-like value with every string in it (keys too) free of lone surrogates."""
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {clean_strings(k): clean_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_strings(v) for v in value]
    return value


def cap_reply(text: str, limit: int = MAX_REPLY_CHARS) -> str:
    """The reply as shown and stored: cut at `limit` characters with a note saying so."""
    if len(text) <= limit:
        return text
    kept = text[:limit].rstrip()
    fences = sum(1 for line in kept.split("\n") if line.lstrip().startswith("```"))
    if fences % 2:
        kept += "\n```"  # close a code block cut open, so the note is not code
    return kept + f"\n… (answer cut: it was {len(text):,} characters; the limit is {limit:,})"


def _cap_tool_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # Still valid JSON, so every model API accepts it when history is sent back.
    return json.dumps(
        {"truncated": f"{len(text):,} characters", "start": text[:TOOL_PREVIEW_CHARS]},
        ensure_ascii=False,
    )


def bounded_items(
    items: Sequence[TResponseInputItem], limit: int = MAX_STORED_TOOL_CHARS
) -> list[TResponseInputItem]:
    """A turn's items as they are stored: strings cleaned of surrogates, and tool arguments
    and outputs longer than `limit` replaced by a short note with their start."""
    bounded: list[TResponseInputItem] = []
    for item in items:
        capped: dict[str, Any] = clean_strings(copy.deepcopy(dict(item)))
        kind = capped.get("type")
        if kind == "function_call" and isinstance(capped.get("arguments"), str):
            capped["arguments"] = _cap_tool_text(capped["arguments"], limit)
        elif kind == "function_call_output" and isinstance(capped.get("output"), str):
            capped["output"] = _cap_tool_text(capped["output"], limit)
        bounded.append(capped)  # type: ignore[arg-type]
    return bounded


def _is_assistant_message(item: TResponseInputItem) -> bool:
    return item.get("role") == "assistant" and item.get("type", "message") == "message"


def with_reply(items: Sequence[TResponseInputItem], reply: str) -> list[TResponseInputItem]:
    """The turn's items with its final assistant message saying exactly `reply` (capped,
    cleaned, or the empty-answer placeholder), so a stored turn always ends in a reply."""
    result = list(items)
    last = result[-1] if result else None
    if last is not None and _is_assistant_message(last):
        content = last.get("content")
        first = content[0] if isinstance(content, list) and content else None
        if isinstance(first, dict) and first.get("type") == "output_text":
            replaced: dict[str, Any] = {**last, "content": [{**first, "text": reply}]}
        else:
            replaced = {**last, "content": reply}
        result[-1] = replaced  # type: ignore[assignment]
    else:
        result.append({"role": "assistant", "content": reply})
    return result
