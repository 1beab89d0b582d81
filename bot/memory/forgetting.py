"""`!forget` with nothing after it: the short transaction that makes a person's history and
memory unreadable to every reader at once, and records the work it leaves for the files
(see `erasure`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import FACT_NAMES, ForgetReport, utc_now
from . import erasure, item_rows, positions
from .schema import agent_messages, agent_sessions, usage_days
from .search_index import SearchIndex
from .visible import visible, visible_after

if TYPE_CHECKING:
    from .backends import Backend

_messages = agent_messages.c
# The erase's statements (module-level: compiled once each, see `Backend.run`).
_COUNT_SINCE = select(func.count()).where(visible_after(bindparam("user"), bindparam("through")))
_DROP_SESSION = delete(agent_sessions).where(agent_sessions.c.session_id == bindparam("user"))
_DROP_PAST_USAGE = delete(usage_days).where(
    usage_days.c.user_key == bindparam("user"), usage_days.c.day < bindparam("today")
)


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
    backend: Backend,
    search: SearchIndex,
    counted: tuple[int, int] = (0, 0),
) -> ForgetReport:
    """Hide the person's history rows, delete their items, the session row, their search
    index entry and their usage counts but today's (the daily limits count those, and they
    hold no content; a later erase removes them), record the erase jobs, and commit;
    report what was erased. `counted` is `count_visible` read just before: only rows
    stored since are counted here. On SQLite this transaction holds everyone's writer, so
    its statements take one round trip each where they can (`Backend.run`)."""
    run = backend.run
    through, before = counted
    params = {"user": user_key, "through": through, "today": utc_now().date().isoformat()}
    since = await run(conn, _COUNT_SINCE, params)
    hidden = before + since[0][0]
    items, newest = await item_rows.hide_all(conn, user_key, backend.insert, run)
    # The SDK's session row goes now. On PostgreSQL its rows go with it (the foreign key
    # cascades: deleting is cheap there, and no reader waits for it); a SQLite file does not
    # enforce the key, and the erase job deletes the rows in short batches.
    for statement in (_DROP_SESSION, positions.INVALIDATE, _DROP_PAST_USAGE):
        await run(conn, statement, params)
    jobs = [{"kind": erasure.PURGE, "user_key": user_key, "through_id": newest}] if newest else []
    uid = await search.forget_user(conn, user_key)
    if uid is not None:
        jobs.append({"kind": erasure.SEARCH_PURGE, "user_key": None, "through_id": uid})
    jobs.append({"kind": erasure.CHECKPOINT, "user_key": None, "through_id": None})
    await erasure.record_all(conn, jobs)
    await conn.commit()
    return ForgetReport(
        history_items=hidden,
        facts={i.kind: i.value for i in items if i.kind in FACT_NAMES},
        notes=[i.value for i in items if i.kind == "note"],
    )
