"""`!forget` with nothing after it: the short transaction that makes a person's history and
memory unreadable to every reader at once, and records the work it leaves for the files
(see `erasure`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import FACT_NAMES, ForgetReport, utc_now
from . import erasure, item_rows, positions
from .schema import agent_messages, agent_sessions, usage_days
from .search_index import SearchIndex
from .visible import visible, visible_after

_messages = agent_messages.c


async def count_visible(conn: AsyncConnection, user_key: str) -> tuple[int, int]:
    """(the newest id of the person's readable rows, how many there are), read before the
    erase's write transaction: counting a long history is its slowest statement, and
    SQLite's writer (everyone else's turns) need not wait for it."""
    row = (
        await conn.execute(
            select(func.coalesce(func.max(_messages.id), 0), func.count()).where(visible(user_key))
        )
    ).one()
    return int(row[0]), int(row[1])


async def hide_person(
    conn: AsyncConnection,
    user_key: str,
    insert: Callable[[Any], Any],
    search: SearchIndex,
    counted: tuple[int, int] = (0, 0),
) -> ForgetReport:
    """Hide the person's history rows, delete their items, the session row, their search
    index entry and their usage counts but today's (the daily limits count those, and they
    hold no content; a later erase removes them), record the erase jobs, and commit;
    report what was erased. `counted` is `count_visible` read just before: only rows
    stored since are counted here."""
    through, before = counted
    since = await conn.scalar(select(func.count()).where(visible_after(user_key, through)))
    hidden = before + (since or 0)
    items, newest = await item_rows.hide_all(conn, user_key, insert)
    # The SDK's session row goes now. On PostgreSQL its rows go with it (the foreign key
    # cascades: deleting is cheap there, and no reader waits for it); a SQLite file does not
    # enforce the key, and the erase job deletes the rows in short batches.
    await conn.execute(delete(agent_sessions).where(agent_sessions.c.session_id == user_key))
    await positions.invalidate(conn, user_key)
    usage = usage_days.c
    today = utc_now().date().isoformat()
    await conn.execute(delete(usage_days).where(usage.user_key == user_key, usage.day < today))
    if newest:
        await erasure.record(conn, erasure.PURGE, user_key, through_id=newest)
    uid = await search.forget_user(conn, user_key)
    if uid is not None:
        await erasure.record(conn, erasure.SEARCH_PURGE, through_id=uid)
    await erasure.record(conn, erasure.CHECKPOINT)
    await conn.commit()
    return ForgetReport(
        history_items=hidden or 0,
        facts={i.kind: i.value for i in items if i.kind in FACT_NAMES},
        notes=[i.value for i in items if i.kind == "note"],
    )
