"""Kept history positions: each user's item and turn counts, and every MARK_STRIDE-th turn's
first item id, so a `!history` page of whole turns at any depth is two indexed reads (keyset
by id), never a count or OFFSET.

A turn starts at a message the person typed (and the very first item of a history starts one,
whatever it is). The SDK may append (or pop) rows itself, outside our commits. The kept state
records the id of the newest item it has seen; when that differs from the newest stored id,
positions are brought up to date (appended rows indexed; anything else rebuilt) before they
are used.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, delete, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from ..core.domain import is_user_message
from .schema import MARK_STRIDE, agent_messages, history_counts, history_marks
from .visible import visible, visible_after

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
    turns: int = 0


def _newest_id(user_key: Any) -> Any:
    return select(func.max(_messages.id)).where(visible(user_key)).scalar_subquery()


def kept_columns(user_key: Any) -> tuple[Any, Any, Any, Any]:
    """Columns for a SELECT: the kept item count, the newest id it covers, the newest id
    stored, and the kept turn count (see `kept_from`)."""
    mine = history_counts.c.user_key == user_key
    return (
        select(history_counts.c.item_count).where(mine).scalar_subquery(),
        select(history_counts.c.last_id).where(mine).scalar_subquery(),
        _newest_id(user_key),
        select(history_counts.c.turn_count).where(mine).scalar_subquery(),
    )


def kept_from(
    kept_items: int | None, kept_last: int | None, newest: int | None, kept_turns: int | None
) -> KeptCount:
    if kept_items is None:
        return KeptCount(0, newest is None)
    return KeptCount(
        kept_items, kept_last == newest, kept_last or 0, tracked=True, turns=kept_turns or 0
    )


async def kept_count(conn: AsyncConnection, user_key: str) -> KeptCount:
    """The kept counts, and whether they cover exactly the rows stored now."""
    return kept_from(*(await conn.execute(select(*kept_columns(user_key)))).one())


def starts_turn(item: Any, position: int) -> bool:
    """Whether the item at `position` (1 = the user's first) begins a turn."""
    return position == 1 or (isinstance(item, dict) and is_user_message(item))


def _loaded(data: Any) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, TypeError):
        return None  # a corrupt row is skipped when read (`history.decode`): no turn start


_USER = bindparam("user")
_SET_COUNT = (
    update(history_counts)
    .where(history_counts.c.user_key == _USER)
    .values(item_count=bindparam("items"), turn_count=bindparam("turns"), last_id=_newest_id(_USER))
)
_NEW_COUNT = insert(history_counts).values(
    user_key=_USER,
    item_count=bindparam("items"),
    turn_count=bindparam("turns"),
    last_id=_newest_id(_USER),
)


def _is_mark(turn: int) -> bool:
    return (turn - 1) % MARK_STRIDE == 0


async def extend(
    conn: AsyncConnection, user_key: str, kept: KeptCount, added: Sequence[Any], run: Run
) -> None:
    """Index the `added` items this transaction just inserted for the user, given the kept
    state read before inserting them. Falls back to `reconcile` when that state did not
    cover every stored row (the SDK wrote or removed rows itself)."""
    if not kept.up_to_date:
        await reconcile(conn, user_key)
        return
    turns = kept.turns
    for offset, item in enumerate(added):
        if not starts_turn(item, kept.items + offset + 1):
            continue
        turns += 1
        if _is_mark(turns):
            # The turn's first row, found among the few rows this commit inserted.
            await conn.execute(
                insert(history_marks).from_select(
                    ["user_key", "position", "message_id"],
                    select(literal(user_key, Text), literal(turns), _messages.id)
                    .where(_messages.session_id == user_key, _messages.id > kept.last_id)
                    .order_by(_messages.id)
                    .limit(1)
                    .offset(offset),
                )
            )
    params = {"user": user_key, "items": kept.items + len(added), "turns": turns}
    await run(conn, _SET_COUNT if kept.tracked else _NEW_COUNT, params)


async def reconcile(conn: AsyncConnection, user_key: str) -> None:
    """Bring the user's positions up to date with the rows stored now (in a write
    transaction): rows appended after the newest seen one are indexed; if that row is gone
    (the SDK popped or replaced items), positions are rebuilt from scratch."""
    kept = (
        await conn.execute(
            select(
                history_counts.c.item_count, history_counts.c.turn_count, history_counts.c.last_id
            ).where(history_counts.c.user_key == user_key)
        )
    ).first()
    if kept is not None:
        still_there = await conn.scalar(
            select(exists().where(visible(user_key), _messages.id == kept.last_id))
        )
        if still_there:
            rows = await _rows(conn, user_key, after=kept.last_id)
            if rows:
                await _index(conn, user_key, kept.item_count, kept.turn_count, rows, new=False)
            return
    await forget(conn, user_key)
    rows = await _rows(conn, user_key)
    if rows:
        await _index(conn, user_key, 0, 0, rows, new=True)


# Marks the user's kept positions stale (one row: their rows were hidden): they are rebuilt
# from scratch when next needed, old marks dropped then (or by the erase job). For `Run`.
INVALIDATE = (
    update(history_counts).where(history_counts.c.user_key == bindparam("user")).values(last_id=-1)
)


async def forget(conn: AsyncConnection, user_key: str) -> None:
    """Drop the user's kept positions."""
    await conn.execute(delete(history_marks).where(history_marks.c.user_key == user_key))
    await conn.execute(delete(history_counts).where(history_counts.c.user_key == user_key))


def page_start(user_key: str, turn: int) -> tuple[object, int]:
    """(the id of the first item of the nearest marked turn at or before `turn`, as a scalar
    subquery; how many turns lie from that mark to `turn`)."""
    mark = (turn - 1) // MARK_STRIDE * MARK_STRIDE + 1
    message_id = (
        select(history_marks.c.message_id)
        .where(history_marks.c.user_key == user_key, history_marks.c.position == mark)
        .scalar_subquery()
    )
    return message_id, turn - mark


async def _rows(conn: AsyncConnection, user_key: str, after: int = 0) -> list[tuple[int, Any]]:
    rows = await conn.execute(
        select(_messages.id, _messages.message_data)
        .where(visible_after(user_key, after))
        .order_by(_messages.id)
    )
    return [(row_id, _loaded(data)) for row_id, data in rows]


async def _index(
    conn: AsyncConnection,
    user_key: str,
    items: int,
    turns: int,
    rows: Sequence[tuple[int, Any]],
    *,
    new: bool,
) -> None:
    """Count and mark the turns that start among `rows`, the items after the first `items`
    (of which `turns` turns), and store the counts."""
    marks = []
    for n, (message_id, item) in enumerate(rows):
        if starts_turn(item, items + n + 1):
            turns += 1
            if _is_mark(turns):
                marks.append({"user_key": user_key, "position": turns, "message_id": message_id})
    if marks:
        await conn.execute(insert(history_marks), marks)
    values = {"item_count": items + len(rows), "turn_count": turns, "last_id": rows[-1][0]}
    if new:
        await conn.execute(insert(history_counts).values(user_key=user_key, **values))
    else:
        await conn.execute(
            update(history_counts).where(history_counts.c.user_key == user_key).values(**values)
        )
