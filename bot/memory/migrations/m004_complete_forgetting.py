"""Step 4: complete forgetting. Each person's erase generation and the watermark of their
hidden (erased, awaiting deletion) history rows (`memory_settings`), every written form of
each item's value (`memory_item_forms`), and the erase work still owed to the files
(`memory_erase_jobs`).

The forms are filled from what the files already hold: each item's value, and every value a
`save_facts` or `remember` call in the person's history gave it (corrections included), so
forgetting an item erases the values it had before this release too.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import Connection, Integer, inspect, select, text

from ...core.domain import same_note
from ..schema import agent_messages, erase_jobs, memory_item_forms, memory_items, memory_settings

NAME = "complete forgetting"
_TOOLS = ("save_facts", "remember")


def upgrade(conn: Connection) -> None:
    have = {column["name"] for column in inspect(conn).get_columns(memory_settings.name)}
    for column in ("erase_generation", "hidden_through"):
        if column not in have:
            conn.execute(
                text(
                    f"ALTER TABLE {memory_settings.name} ADD COLUMN {column} "
                    f"{Integer().compile(dialect=conn.dialect)} NOT NULL DEFAULT 0"
                )
            )
    memory_item_forms.create(conn, checkfirst=True)
    for index in memory_item_forms.indexes:
        index.create(conn, checkfirst=True)
    erase_jobs.create(conn, checkfirst=True)
    _fill_forms(conn)


def _fill_forms(conn: Connection) -> None:
    items = memory_items.c
    known: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    forms: set[tuple[str, int, str]] = set()
    for user_key, number, kind, value in conn.execute(
        select(items.user_key, items.number, items.kind, items.value)
    ):
        known[user_key].append((number, kind, value))
        forms.add((user_key, number, value))
    messages = agent_messages.c
    calls = conn.execute(
        select(messages.session_id, messages.message_data).where(
            messages.message_data.like('%"function_call"%')
        )
    )
    for user_key, data in calls:
        if user_key not in known:
            continue
        for kind, value in _values_given(data):
            for number, item_kind, item_value in known[user_key]:
                if item_kind == kind and (kind != "note" or same_note(item_value, value)):
                    forms.add((user_key, number, value))
    if forms:
        conn.execute(
            memory_item_forms.insert(),
            [{"user_key": u, "number": n, "form": f} for u, n, f in sorted(forms)],
        )


def _values_given(data: str) -> list[tuple[str, str]]:
    """(kind, value) for each value a stored memory tool call gave."""
    try:
        item = json.loads(data)
        if item.get("type") != "function_call" or item.get("name") not in _TOOLS:
            return []
        arguments = json.loads(item.get("arguments") or "{}")
    except (ValueError, TypeError, AttributeError):
        return []
    if not isinstance(arguments, dict):
        return []
    if item["name"] == "remember":
        note = arguments.get("note")
        return [("note", note)] if isinstance(note, str) and note.strip() else []
    return [
        (fact, value)
        for fact in ("name", "city")
        if isinstance(value := arguments.get(fact), str) and value.strip()
    ]
