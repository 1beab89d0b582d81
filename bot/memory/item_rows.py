"""Memory items in the database: reading a user's items, applying a turn's changes, erasing
one item together with every trace of its value in that user's stored history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import (
    AppliedChange,
    MemoryChange,
    MemoryItem,
    MemorySource,
    UserMemory,
    plan_changes,
    written_forms,
)
from . import erasure
from .positions import Run
from .redact import Forgotten, pattern, redact
from .schema import agent_messages, dump_item, memory_item_forms, memory_items, memory_settings
from .search_index import SearchIndex
from .visible import visible

_items = memory_items.c
_settings = memory_settings.c
_forms = memory_item_forms.c
# What `hide_all` runs (module-level: compiled once each, see `Backend.run`).
_NEWEST = select(func.max(agent_messages.c.id)).where(visible(bindparam("user")))
_DROP_ITEMS = delete(memory_items).where(_items.user_key == bindparam("user"))
_DROP_FORMS = delete(memory_item_forms).where(_forms.user_key == bindparam("user"))
# A written form longer than this is kept cut (a tool argument is stored cut at 2,000
# characters; its first 200 are what a cut one keeps, and they still match).
MAX_FORM_CHARS = 2_000


async def load(conn: AsyncConnection, user_key: str) -> UserMemory:
    """The user's items and settings, in one statement (each is a round trip to the
    driver): the user's key joined to their settings row and their items, if any."""
    key = select(literal(user_key, Text).label("user_key")).subquery("k")
    rows = (
        await conn.execute(
            select(
                _settings.paused,
                _settings.next_number,
                _settings.erase_generation,
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
    return UserMemory(
        items,
        paused=bool(first.paused),
        next_number=first.next_number,
        generation=first.erase_generation,
    )


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
    search: SearchIndex,
) -> tuple[list[AppliedChange], list[Forgotten]]:
    """Apply a turn's changes in order (see `plan_changes`); returns what each did, and what
    the items it forgot match (to cut from the turn's own items too)."""
    memory = await load(conn, user_key)
    after, planned = plan_changes(memory, list(changes), stamp=stamp, source=source)
    stored = {item.number: item for item in memory.items}
    applied = []
    forgotten = []
    for change in planned:
        if change.action == "forget":
            erased = await erase_item(
                conn,
                user_key,
                stored.pop(change.number),
                dialect=dialect,
                insert=insert,
                search=search,
            )
            applied.append(replace(change, redacted=erased.redacted))
            if erased.forgotten is not None:
                forgotten.append(erased.forgotten)
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
    await _record_forms(conn, user_key, written_forms(after, list(changes)))
    if after.next_number != memory.next_number:
        upsert = insert(memory_settings).values(
            user_key=user_key, paused=False, next_number=after.next_number
        )
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[_settings.user_key], set_={"next_number": after.next_number}
            )
        )
    return applied, forgotten


async def _record_forms(conn: AsyncConnection, user_key: str, forms: list[tuple[int, str]]) -> None:
    """Keep each (item number, written form) not kept yet."""
    if not forms:
        return
    numbers = sorted({number for number, _ in forms})
    kept = set(
        (
            await conn.execute(
                select(_forms.number, _forms.form).where(
                    _forms.user_key == user_key, _forms.number.in_(numbers)
                )
            )
        ).all()
    )
    new = sorted({(n, f[:MAX_FORM_CHARS]) for n, f in forms} - kept)
    if new:
        await conn.execute(
            memory_item_forms.insert(),
            [{"user_key": user_key, "number": n, "form": f} for n, f in new],
        )


@dataclass(frozen=True)
class ItemErased:
    """What erasing one item did: stored history items and other items it was cut from,
    and what it matched (to cut from a turn being stored with it)."""

    redacted: int
    forgotten: Forgotten | None


async def erase_item(
    conn: AsyncConnection,
    user_key: str,
    item: MemoryItem,
    *,
    dialect: str,
    insert: Callable[[Any], Any],
    search: SearchIndex,
) -> ItemErased:
    """Delete one item and every form its value ever had, replacing each in every readable
    history item of the user, and in their other items, by `[forgotten]`; the user's erase
    generation moves on, so a turn that read the item cannot be stored afterwards."""
    forms = [
        form
        for (form,) in await conn.execute(
            select(_forms.form).where(_forms.user_key == user_key, _forms.number == item.number)
        )
    ]
    await conn.execute(
        delete(memory_items).where(_items.user_key == user_key, _items.number == item.number)
    )
    await conn.execute(
        delete(memory_item_forms).where(_forms.user_key == user_key, _forms.number == item.number)
    )
    await _next_generation(conn, user_key, insert)
    forgotten = pattern([item.value, *forms])
    if forgotten is None:
        return ItemErased(0, None)
    messages = agent_messages.c
    rows = await conn.execute(select(messages.id, messages.message_data).where(visible(user_key)))
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
    await _redact_other_items(conn, user_key, forgotten)
    shard = await search.redact(conn, user_key, forgotten)
    if shard is not None:
        await erasure.record(conn, erasure.MERGE, through_id=shard)
    return ItemErased(len(changed), forgotten)


async def _redact_other_items(conn: AsyncConnection, user_key: str, forgotten: Forgotten) -> None:
    """The value cut from the person's other items (a note naming the forgotten city) and
    from their kept forms."""
    for number, value in (
        await conn.execute(select(_items.number, _items.value).where(_items.user_key == user_key))
    ).all():
        if forgotten.search(value):
            await conn.execute(
                update(memory_items)
                .where(_items.user_key == user_key, _items.number == number)
                .values(value=forgotten.sub(value))
            )
    for number, form in (
        await conn.execute(select(_forms.number, _forms.form).where(_forms.user_key == user_key))
    ).all():
        if forgotten.search(form):
            await conn.execute(
                delete(memory_item_forms).where(
                    _forms.user_key == user_key, _forms.number == number, _forms.form == form
                )
            )


async def _next_generation(
    conn: AsyncConnection,
    user_key: str,
    insert: Callable[[Any], Any],
    *,
    next_number: int | None = None,
    hidden_through: int | None = None,
) -> None:
    """Move the user's erase generation on (creating their settings row if need be), and
    set their next item number and hidden rows' watermark when given."""
    also: dict[str, Any] = {}
    if next_number is not None:
        also["next_number"] = next_number
    if hidden_through is not None:
        also["hidden_through"] = hidden_through
    upsert = insert(memory_settings).values(
        user_key=user_key,
        paused=False,
        next_number=next_number or 1,
        erase_generation=1,
        hidden_through=hidden_through or 0,
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[_settings.user_key],
            set_={"erase_generation": _settings.erase_generation + 1, **also},
        )
    )


async def hide_all(
    conn: AsyncConnection, user_key: str, insert: Callable[[Any], Any], run: Run
) -> tuple[list[MemoryItem], int]:
    """Erase every item of the user and hide all their history rows at once (their ids up to
    the newest become unreadable; an erase job deletes them in batches); numbering starts
    again at 1, a paused memory stays paused, and the erase generation moves on. Returns the
    items erased and the id of the newest row hidden (0: none)."""
    memory = await load(conn, user_key)
    params = {"user": user_key}
    newest = (await run(conn, _NEWEST, params))[0][0] or 0
    await run(conn, _DROP_ITEMS, params)
    await run(conn, _DROP_FORMS, params)
    await _next_generation(conn, user_key, insert, next_number=1, hidden_through=newest or None)
    return memory.items, newest
