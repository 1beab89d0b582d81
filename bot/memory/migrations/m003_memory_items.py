"""Step 3: memory items (`memory_items`, `memory_settings`); name and city move out of
`user_facts` into items 1 and 2 of each user, with their timestamps, and `user_facts` goes."""

from __future__ import annotations

from itertools import groupby

from sqlalchemy import Connection, inspect, select

from ...core.domain import UserKey
from ..schema import memory_items, memory_settings, user_facts

NAME = "memory items"


def upgrade(conn: Connection) -> None:
    memory_items.create(conn, checkfirst=True)
    memory_settings.create(conn, checkfirst=True)
    if not inspect(conn).has_table(user_facts.name):
        return
    facts = user_facts.c
    rows = conn.execute(
        select(facts.user_key, facts.fact, facts.value, facts.updated_at)
        .where(facts.fact.in_(("name", "city")))
        .order_by(facts.user_key, facts.fact.desc())  # name, then city
    ).all()
    for user_key, user_rows in groupby(rows, key=lambda row: row.user_key):
        items = [
            {
                "user_key": user_key,
                "number": number,
                "kind": row.fact,
                "value": row.value,
                "created_at": row.updated_at,
                "updated_at": row.updated_at,
                # The first release kept no source; the key's namespace is the front end.
                "source": UserKey.parse(user_key).frontend or user_key,
                "source_ref": None,
            }
            for number, row in enumerate(user_rows, start=1)
        ]
        conn.execute(memory_items.insert(), items)
        conn.execute(
            memory_settings.insert().values(
                user_key=user_key, paused=False, next_number=len(items) + 1
            )
        )
    user_facts.drop(conn)
