"""How replies look on Slack: safe mrkdwn, messages and blocks within Slack's limits.

Pure functions over text and block dicts; nothing here talks to Slack. Everything the bot
posts passes through `escape` (directly or via `to_mrkdwn`), so no model output or stored
text can form `<!channel>`, `<!here>`, `<@U…>` or `<#C…>` and notify anyone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.render import render_turn_added
from ...core.splitting import split_text

# Slack truncates message text past 4,000 characters in places; section text is capped at
# 3,000 and a message at 50 blocks.
MESSAGE_CHARS = 3900
SECTION_CHARS = 3000
CONTEXT_CHARS = 3000
MAX_BLOCKS = 50
FENCE = "```"
WRITING = " …"

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()<>|]+)\)")
# A URL as Slack sees it once escaped: no spaces, angle brackets or pipes.
_BARE_URL = re.compile(r"https?://[^\s<>|]+")
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_LANGUAGE = re.compile(r"[\w+#.-]*")
# Private-use placeholders for pieces already in final form (links, code spans, bold marks);
# any such characters in the input are dropped first so they cannot be forged.
_SLOT = "\ue000"
_BOLD_MARK = "\ue001"


def escape(text: str) -> str:
    """Slack's three control characters as entities: the text shows as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Model Markdown as Slack mrkdwn: bold, italics, strike, headings, bullets, links and
    code. Code blocks stand on lines of their own (Slack shows a language tag as code, so it
    is dropped) and an unclosed block is closed. Everything is escaped."""
    markdown = markdown.replace(_SLOT, "").replace(_BOLD_MARK, "")
    out: list[str] = []
    in_code = False
    for line in markdown.split("\n"):
        stripped = line.strip()
        if stripped.startswith(FENCE):
            rest = stripped[len(FENCE) :]
            if not in_code and rest.endswith(FENCE) and len(rest) > len(FENCE):
                out += [FENCE, escape(rest[: -len(FENCE)]), FENCE]  # ```one-line block```
                continue
            out.append(FENCE)
            in_code = not in_code
            if in_code and rest and not _LANGUAGE.fullmatch(rest):
                out.append(escape(rest))  # code written on the opening line
            continue
        out.append(escape(line) if in_code else _inline(line))
    if in_code:
        out.append(FENCE)
    return "\n".join(out)


def _inline(line: str) -> str:
    """One line outside code blocks, converted and escaped."""
    slots: list[str] = []

    def keep(text: str) -> str:
        slots.append(text)
        return f"{_SLOT}{len(slots) - 1}{_SLOT}"

    heading = _HEADING.match(line)
    if heading:
        line = f"**{heading.group(1).replace('**', '')}**"
    line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
    line = _INLINE_CODE.sub(lambda m: keep(escape(m.group(0))), line)
    line = escape(line)
    line = _LINK.sub(lambda m: keep(f"<{m.group(2)}|{m.group(1)}>"), line)
    line = _BARE_URL.sub(lambda m: keep(m.group(0)), line)
    line = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", line)
    line = _ITALIC.sub(lambda m: f"_{m.group(1)}_", line)
    line = _STRIKE.sub(lambda m: f"~{m.group(1)}~", line)
    line = line.replace(_BOLD_MARK, "*")
    return re.sub(f"{_SLOT}(\\d+){_SLOT}", lambda m: slots[int(m.group(1))], line)


def section(text: str) -> dict[str, Any]:
    # verbatim: Slack would otherwise link-ify channel names and parse some mentions itself.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def added_context(items: Sequence[Mapping[str, Any]] | None, changes: str = "") -> dict[str, Any]:
    """The context block under an answer: what this turn stored, and what it changed in
    memory (`changes`, from `render_changes`)."""
    parts = [render_turn_added(items)] if items else []
    if changes:
        parts.append(changes)
    text = escape("\n".join(parts))
    if len(text) > CONTEXT_CHARS:
        text = text[: CONTEXT_CHARS - 1] + "…"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def reply_messages(
    markdown: str, added: Sequence[Mapping[str, Any]] | None = None, changes: str = ""
) -> list[dict[str, Any]]:
    """The messages for one answer: each with `text` (the notification and fallback, at most
    MESSAGE_CHARS) and `blocks` (sections of at most SECTION_CHARS); the last one carries the
    context block of what the turn stored and changed, when given."""
    return text_messages(to_mrkdwn(markdown), added, changes)


def text_messages(
    mrkdwn: str, added: Sequence[Mapping[str, Any]] | None = None, changes: str = ""
) -> list[dict[str, Any]]:
    """Like `reply_messages` for text that is already safe mrkdwn."""
    chunks = split_text(mrkdwn, MESSAGE_CHARS) or ["(no answer)"]
    messages: list[dict[str, Any]] = []
    for index, chunk in enumerate(chunks):
        blocks = [section(part) for part in split_text(chunk, SECTION_CHARS)]
        if (added or changes) and index == len(chunks) - 1:
            blocks.append(added_context(added, changes))
        messages.append({"text": chunk, "blocks": blocks[:MAX_BLOCKS]})
    return messages


def plain_messages(text: str) -> list[dict[str, Any]]:
    """Command output (history pages, help): escaped, otherwise as written."""
    return text_messages(escape(text))


def preview_text(markdown: str) -> str:
    """A streamed answer so far, as one message marked as still being written."""
    text = to_mrkdwn(markdown.strip())
    room = MESSAGE_CHARS - len(WRITING)
    if len(text) > room:
        text = split_text(text, room)[0]
    return text + WRITING
