"""Long text in pieces that each fit one message, for every front end (Discord's 2,000
characters, Slack's 3,900): cut between lines, else between words, and a code block cut in
two is closed at the end of one piece and reopened at the start of the next."""

from __future__ import annotations

_FENCE = "```"
# The smallest limit that still leaves room for text between a reopened and a closing fence.
MIN_LIMIT = 32


def _is_fence(line: str) -> bool:
    return line.lstrip().startswith(_FENCE)


def _break_line(line: str, room: int) -> list[str]:
    """Cut one over-long line into pieces of at most `room` characters: whole words packed
    greedily, and a word longer than `room` cut into `room`-sized slices."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= room:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(word) > room:
            pieces.append(word[:room])
            word = word[room:]
        current = word
    pieces.append(current)
    return pieces


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into messages of at most `limit` characters.

    Cuts fall between lines where possible, else between words, and only inside a word that is
    itself too long. A code block cut in two is closed at the end of one message and reopened
    (with its language) at the start of the next, so every message renders as valid markdown.
    Whitespace-only pieces are dropped: Discord rejects empty messages.
    """
    if limit < MIN_LIMIT:
        raise ValueError("limit is too small to hold code fences")
    if len(text) <= limit:
        return [text] if text.strip() else []

    close = "\n" + _FENCE
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    fence: str | None = None  # how to reopen the code block we are inside, if any
    fresh = True  # `lines` holds nothing yet but a reopened fence

    def flush() -> None:
        nonlocal lines, size, fresh
        if not fresh:
            body = "\n".join(lines).strip("\n") + (close if fence is not None else "")
            if body.strip():
                chunks.append(body)
        lines = [fence] if fence is not None else []
        size = len(fence) if fence is not None else 0
        fresh = True

    def add(line: str) -> bool:
        """Append `line` if it fits with room left to close an open code block."""
        nonlocal size, fence, fresh
        after = fence
        if _is_fence(line):
            after = None if fence is not None else _reopening(line)
        reserve = len(close) if after is not None else 0
        needed = size + (1 if lines else 0) + len(line)
        if needed + reserve > limit:
            return False
        lines.append(line)
        size, fence, fresh = needed, after, False
        return True

    for line in text.split("\n"):
        if add(line):
            continue
        if not fresh:
            flush()
            if add(line):
                continue
        # Too long even for a message of its own: cut it, leaving room for the fences.
        room = limit - (len(fence) + 1 + len(close) if fence is not None else 0)
        for piece in _break_line(line, room):
            if not add(piece):
                flush()
                add(piece)
    flush()
    return chunks


def _reopening(fence_line: str) -> str:
    """The line that reopens a code block: the fence and its language, nothing longer."""
    info = fence_line.strip()[len(_FENCE) :].split()
    return _FENCE + (info[0][:20] if info else "")
