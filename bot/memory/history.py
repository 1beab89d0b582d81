"""Reading stored history: the model's window, `!history` pages and whole histories, always
by item id (keyset), never by counting or skipping rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agents import TResponseInputItem
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import HistoryPage, HistoryWindow, is_user_message
from . import positions
from .schema import agent_messages
from .visible import generation, visible

# Items per read when a whole history is read (export): each page is its own short read.
READ_PAGE = 500
_messages = agent_messages.c


def decode(rows: Sequence[Any]) -> list[TResponseInputItem]:
    items = []
    for (data,) in rows:
        try:
            items.append(json.loads(data))
        except (json.JSONDecodeError, TypeError):
            continue  # as the SDK's sessions do: a corrupt row is skipped, not fatal
    return items


# The window, newest first, a chunk at a time (module-level, so each is compiled once; see
# `Backend.run`): the first chunk, then the chunks before the oldest id seen so far. Each row
# carries the erase generation the read saw.
_NEWEST = (
    select(_messages.id, _messages.message_data, generation(bindparam("user")))
    .where(visible(bindparam("user")))
    .order_by(_messages.id.desc())
    .limit(bindparam("chunk"))
)
_OLDER = _NEWEST.where(_messages.id < bindparam("before"))


async def newest_turns(
    conn: AsyncConnection, user_key: str, user_turns: int, run: positions.Run
) -> HistoryWindow:
    """The newest `user_turns` turns, each whole, starting at a user message."""
    chunk = max(8, user_turns * 6)
    newest_first: list[TResponseInputItem] = []
    starts = 0
    before: int | None = None
    seen: int | None = None  # the erase generation of the first read
    while True:
        params = {"user": user_key, "chunk": chunk}
        if before is None:
            rows = await run(conn, _NEWEST, params)
        else:
            rows = await run(conn, _OLDER, {**params, "before": before})
        if rows and seen is None:
            seen = rows[0][2]
        for item in decode([(row[1],) for row in rows]):
            newest_first.append(item)
            starts += is_user_message(item)
            if starts == user_turns:
                return HistoryWindow(newest_first[::-1], seen)
        if len(rows) < chunk:
            break
        before = rows[-1][0]
    # All history fits; it starts at a user message, so the window starts at a turn.
    items = newest_first[::-1]
    first = next((n for n, item in enumerate(items) if is_user_message(item)), len(items))
    return HistoryWindow(items[first:], seen)


async def read_page(
    conn: AsyncConnection, user_key: str, total: int, page: int, per_page: int
) -> HistoryPage:
    """Page `page` (1 = newest) of `total` kept items: from the nearest mark, by id."""
    pages = max(1, -(-total // per_page))
    if page > pages or total == 0:
        return HistoryPage(items=[], page=page, pages=pages, total=total)
    last = total - (page - 1) * per_page
    first = max(1, last - per_page + 1)
    from_id, skip = positions.page_start(user_key, first)
    rows = await conn.execute(
        select(_messages.message_data)
        .where(visible(user_key), _messages.id >= from_id)
        .order_by(_messages.id)
        .limit(skip + last - first + 1)
    )
    items = decode(rows.all()[skip:])
    return HistoryPage(items=items, page=page, pages=pages, total=total)


_AFTER = (
    select(_messages.id, _messages.message_data)
    .where(visible(bindparam("user")), _messages.id > bindparam("after"))
    .order_by(_messages.id)
    .limit(bindparam("page"))
)


async def rows_after(
    conn: AsyncConnection, user_key: str, after: int, run: positions.Run
) -> tuple[list[tuple[str]], int | None]:
    """Up to READ_PAGE stored items (undecoded rows for `decode`) with ids after `after`,
    and the id to continue from (None at the end)."""
    rows = await run(conn, _AFTER, {"user": user_key, "after": after, "page": READ_PAGE})
    return [(data,) for _, data in rows], (rows[-1][0] if len(rows) == READ_PAGE else None)
