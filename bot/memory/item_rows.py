"""Memory items in the database: reading a user's items, applying a turn's changes, erasing
one item together with every trace of its value in that user's stored history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Text, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import (
    AppliedChange,
    MemoryChange,
    MemoryItem,
    MemorySource,
    UserMemory,
    plan_changes,
)
from .redact import pattern, redact
from .schema import agent_messages, dump_item, memory_items, memory_settings

_items = memory_items.c
_settings = memory_settings.c


async def load(conn: AsyncConnection, user_key: str) -> UserMemory:
    """The user's items and settings, in one statement (each is a round trip to the
    driver): the user's key joined to their settings row and their items, if any."""
    key = select(literal(user_key, Text).label("user_key")).subquery("k")
    rows = (
        await conn.execute(
            select(
                _settings.paused,
                _settings.next_number,
                _items.number,
                _items.kind,
                _items.value,
                _items.created_at,
                _items.updated_at,
                _items.source,
                _items.source_ref,
            )
            .select_from(
                key.outerjoin(memory_settings, _settings.user_key == key.c.user_key).outerjoin(
                    memory_items, _items.user_key == key.c.user_key
                )
            )
            .order_by(_items.number)
        )
    ).all()
    items = [
        MemoryItem(
            number=row.number,
            kind=row.kind,
            value=row.value,
            created_at=row.created_at,
            updated_at=row.updated_at,
            source=MemorySource(row.source, row.source_ref),
        )
        for row in rows
        if row.number is not None
    ]
    first = rows[0]
    if first.next_number is None:
        return UserMemory(items, paused=False, next_number=1)
    return UserMemory(items, paused=bool(first.paused), next_number=first.next_number)


def paused_column(user_key: str) -> Any:
    """A column for a SELECT: whether the user's memory is paused (NULL: never set)."""
    return select(_settings.paused).where(_settings.user_key == user_key).scalar_subquery()


async def set_paused(
    conn: AsyncConnection, user_key: str, value: bool, insert: Callable[[Any], Any]
) -> None:
    upsert = insert(memory_settings).values(user_key=user_key, paused=value, next_number=1)
    await conn.execute(
        upsert.on_conflict_do_update(index_elements=[_settings.user_key], set_={"paused": value})
    )


async def apply(
    conn: AsyncConnection,
    user_key: str,
    changes: Sequence[MemoryChange],
    *,
    source: MemorySource,
    stamp: datetime,
    insert: Callable[[Any], Any],
    dialect: str,
) -> list[AppliedChange]:
    """Apply a turn's changes in order (see `plan_changes`); returns what each did."""
    memory = await load(conn, user_key)
    after, planned = plan_changes(memory, list(changes), stamp=stamp, source=source)
    stored = {item.number: item for item in memory.items}
    applied = []
    for change in planned:
        if change.action == "forget":
            redacted = await erase_item(conn, user_key, stored.pop(change.number), dialect)
            applied.append(replace(change, redacted=redacted))
            continue
        fields = {
            "value": change.value,
            "updated_at": stamp,
            "source": source.frontend,
            "source_ref": source.ref,
        }
        if change.number in stored:
            await conn.execute(
                update(memory_items)
                .where(_items.user_key == user_key, _items.number == change.number)
                .values(**fields)
            )
        else:
            await conn.execute(
                memory_items.insert().values(
                    user_key=user_key,
                    number=change.number,
                    kind=change.kind,
                    created_at=stamp,
                    **fields,
                )
            )
        stored[change.number] = MemoryItem(
            change.number, change.kind, change.value, stamp, stamp, source
        )
        applied.append(change)
    if after.next_number != memory.next_number:
        upsert = insert(memory_settings).values(
            user_key=user_key, paused=False, next_number=after.next_number
        )
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[_settings.user_key], set_={"next_number": after.next_number}
            )
        )
    return applied


async def erase_item(conn: AsyncConnection, user_key: str, item: MemoryItem, dialect: str) -> int:
    """Delete one item and replace its value in every stored history item of the user by
    `[forgotten]`; returns how many history items changed."""
    await conn.execute(
        delete(memory_items).where(_items.user_key == user_key, _items.number == item.number)
    )
    forgotten = pattern([item.value])
    if forgotten is None:
        return 0
    messages = agent_messages.c
    rows = await conn.execute(
        select(messages.id, messages.message_data).where(messages.session_id == user_key)
    )
    changed = []
    for row_id, data in rows.all():
        try:
            stored = json.loads(data)
        except (json.JSONDecodeError, TypeError):
            continue
        cleaned = redact(stored, forgotten)
        if cleaned != stored:
            changed.append({"row_id": row_id, "data": dump_item(cleaned, dialect)})
    for row in changed:
        await conn.execute(
            update(agent_messages)
            .where(messages.id == row["row_id"])
            .values(message_data=row["data"])
        )
    return len(changed)


async def forget_all(conn: AsyncConnection, user_key: str) -> list[MemoryItem]:
    """Delete every item of the user (history is deleted by the caller); numbering starts
    again at 1, and a paused memory stays paused."""
    memory = await load(conn, user_key)
    await conn.execute(delete(memory_items).where(_items.user_key == user_key))
    await conn.execute(
        update(memory_settings).where(_settings.user_key == user_key).values(next_number=1)
    )
    return memory.items
