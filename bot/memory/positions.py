"""Kept history positions: each user's item count and every MARK_STRIDE-th item's id, so a
`!history` page at any depth is two indexed reads (keyset by id), never a count or OFFSET.

The SDK may append (or pop) rows itself, outside our commits. The kept state records the id
of the newest item it has seen; when that differs from the newest stored id, positions are
brought up to date (appended rows indexed; anything else rebuilt) before they are used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, delete, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from .schema import MARK_STRIDE, agent_messages, history_counts, history_marks
from .visible import visible

_messages = agent_messages.c
# `Backend.run`: one statement with its parameters (a mapping, or a list of them).
Run = Callable[
    [AsyncConnection, Executable, Mapping[str, Any] | Sequence[Mapping[str, Any]]],
    Awaitable[list[Any]],
]


@dataclass(frozen=True)
class KeptCount:
    items: int
    up_to_date: bool
    last_id: int = 0
    tracked: bool = False  # the user has a kept-count row


def _newest_id(user_key: Any) -> Any:
    return select(func.max(_messages.id)).where(visible(user_key)).scalar_subquery()


def kept_columns(user_key: str) -> tuple[Any, Any, Any]:
    """Columns for a SELECT: the kept count, the newest id it covers, the newest id stored."""
    mine = history_counts.c.user_key == user_key
    return (
        select(history_counts.c.item_count).where(mine).scalar_subquery(),
        select(history_counts.c.last_id).where(mine).scalar_subquery(),
        _newest_id(user_key),
    )


def kept_from(kept_items: int | None, kept_last: int | None, newest: int | None) -> KeptCount:
    if kept_items is None:
        return KeptCount(0, newest is None)
    return KeptCount(kept_items, kept_last == newest, kept_last or 0, tracked=True)


async def kept_count(conn: AsyncConnection, user_key: str) -> KeptCount:
    """The kept item count, and whether it covers exactly the rows stored now."""
    return kept_from(*(await conn.execute(select(*kept_columns(user_key)))).one())


_USER = bindparam("user")
_SET_COUNT = (
    update(history_counts)
    .where(history_counts.c.user_key == _USER)
    .values(item_count=bindparam("items"), last_id=_newest_id(_USER))
)
_NEW_COUNT = insert(history_counts).values(
    user_key=_USER, item_count=bindparam("items"), last_id=_newest_id(_USER)
)


async def extend(
    conn: AsyncConnection, user_key: str, kept: KeptCount, added: int, run: Run
) -> None:
    """Index the `added` rows this transaction just inserted for the user, given the kept
    state read before inserting them. Falls back to `reconcile` when that state did not
    cover every stored row (the SDK wrote or removed rows itself)."""
    if not kept.up_to_date:
        await reconcile(conn, user_key)
        return
    first = kept.items + 1
    for position in range(first, first + added):
        if (position - 1) % MARK_STRIDE == 0:
            # The mark's row, found among the few rows this turn inserted.
            await conn.execute(
                insert(history_marks).from_select(
                    ["user_key", "position", "message_id"],
                    select(literal(user_key, Text), literal(position), _messages.id)
                    .where(_messages.session_id == user_key, _messages.id > kept.last_id)
                    .order_by(_messages.id)
                    .limit(1)
                    .offset(position - first),
                )
            )
    params = {"user": user_key, "items": kept.items + added}
    await run(conn, _SET_COUNT if kept.tracked else _NEW_COUNT, params)


async def reconcile(conn: AsyncConnection, user_key: str) -> None:
    """Bring the user's positions up to date with the rows stored now (in a write
    transaction): rows appended after the newest seen one are indexed; if that row is gone
    (the SDK popped or replaced items), positions are rebuilt from scratch."""
    kept = (
        await conn.execute(
            select(history_counts.c.item_count, history_counts.c.last_id).where(
                history_counts.c.user_key == user_key
            )
        )
    ).first()
    if kept is not None:
        still_there = await conn.scalar(
            select(exists().where(_messages.session_id == user_key, _messages.id == kept.last_id))
        )
        if still_there:
            ids = await _ids(conn, user_key, after=kept.last_id)
            if ids:
                await _index(conn, user_key, kept.item_count, ids, new=False)
            return
    await forget(conn, user_key)
    ids = await _ids(conn, user_key)
    if ids:
        await _index(conn, user_key, 0, ids, new=True)


async def invalidate(conn: AsyncConnection, user_key: str) -> None:
    """Mark the user's kept positions stale (one row: their rows were hidden): they are
    rebuilt from scratch when next needed, old marks dropped then (or by the erase job)."""
    await conn.execute(
        update(history_counts).where(history_counts.c.user_key == user_key).values(last_id=-1)
    )


async def forget(conn: AsyncConnection, user_key: str) -> None:
    """Drop the user's kept positions."""
    await conn.execute(delete(history_marks).where(history_marks.c.user_key == user_key))
    await conn.execute(delete(history_counts).where(history_counts.c.user_key == user_key))


def page_start(user_key: str, position: int) -> tuple[object, int]:
    """(the id of the nearest mark at or before `position`, as a scalar subquery; how many
    items lie from that mark to `position`)."""
    mark = (position - 1) // MARK_STRIDE * MARK_STRIDE + 1
    message_id = (
        select(history_marks.c.message_id)
        .where(history_marks.c.user_key == user_key, history_marks.c.position == mark)
        .scalar_subquery()
    )
    return message_id, position - mark


async def _ids(conn: AsyncConnection, user_key: str, after: int = 0) -> list[int]:
    rows = await conn.execute(
        select(_messages.id).where(visible(user_key), _messages.id > after).order_by(_messages.id)
    )
    return list(rows.scalars())


async def _mark(conn: AsyncConnection, user_key: str, items: int, ids: Sequence[int]) -> None:
    """Store the marks that fall among `ids`, the items after the first `items`."""
    marks = [
        {"user_key": user_key, "position": items + n + 1, "message_id": message_id}
        for n, message_id in enumerate(ids)
        if (items + n) % MARK_STRIDE == 0
    ]
    if marks:
        await conn.execute(insert(history_marks), marks)


async def _index(
    conn: AsyncConnection, user_key: str, items: int, ids: Sequence[int], *, new: bool
) -> None:
    await _mark(conn, user_key, items, ids)
    values = {"item_count": items + len(ids), "last_id": ids[-1]}
    if new:
        await conn.execute(insert(history_counts).values(user_key=user_key, **values))
    else:
        await conn.execute(
            update(history_counts).where(history_counts.c.user_key == user_key).values(**values)
        )
