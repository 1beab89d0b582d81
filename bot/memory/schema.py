"""The tables the memory lives in, defined here and created by `bot.memory.migrations`.

History keeps the openai-agents session-table layout (`agent_sessions`, `agent_messages`:
the same columns, the same JSON) so the SDK's own `SQLiteSession(user_key, path)` and
`SQLAlchemySession(user_key, engine=...)` read and append a user's history in our database.
Everything else is ours: memory items, and the kept positions that make `!history` pages cost the
same at any depth.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

metadata = MetaData()


class UtcTimestamp(TypeDecorator[datetime]):
    """A UTC moment: `timestamptz` on PostgreSQL, ISO-8601 text on SQLite (the format the
    first release wrote there, e.g. `2026-11-24T10:00:00+00:00`)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC).replace(microsecond=0)
        return value.isoformat() if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the SDK's session tables (columns as `SQLAlchemySession` defines them) ----------------

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("session_id", String, primary_key=True),
    Column(
        "created_at",
        TIMESTAMP(timezone=False),
        server_default=text("CURRENT_TIMESTAMP"),
        nullable=False,
    ),
    Column(
        "updated_at",
        TIMESTAMP(timezone=False),
        server_default=text("CURRENT_TIMESTAMP"),
        nullable=False,
    ),
)

agent_messages = Table(
    "agent_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_id",
        String,
        ForeignKey("agent_sessions.session_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("message_data", Text, nullable=False),
    Column(
        "created_at",
        TIMESTAMP(timezone=False),
        server_default=text("CURRENT_TIMESTAMP"),
        nullable=False,
    ),
    # SQLiteSession's index (its reads and our keyset pages go by id) and SQLAlchemySession's
    # (it orders by created_at, then id).
    Index("idx_agent_messages_session_id", "session_id", "id"),
    Index("idx_agent_messages_session_time", "session_id", "created_at"),
    # As SQLiteSession: ids are never reused, so a kept position can never point at a
    # different message after a delete.
    sqlite_autoincrement=True,
)

# The JSON each SDK session class writes on its own back end: SQLiteSession uses
# `json.dumps(item)`, SQLAlchemySession (the SDK's PostgreSQL path) the compact form. Both
# read either; writing the same text keeps the rows indistinguishable from the SDK's own.
_SDK_JSON: dict[str, dict[str, Any]] = {
    "sqlite": {},
    "postgresql": {"separators": (",", ":")},
}


def dump_item(item: Any, dialect_name: str) -> str:
    """One history item as the SDK's session on this back end stores it."""
    return json.dumps(item, **_SDK_JSON.get(dialect_name, {}))


# --- ours ---------------------------------------------------------------------------------

# Name and city as the first release stored them; schema step 3 moves them into memory_items.
user_facts = Table(
    "user_facts",
    metadata,
    Column("user_key", Text, primary_key=True),
    Column("fact", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
)

# Each user's memory items: name and city (at most one each) and notes. `number` is shown
# to the person and never changes; a forgotten number is not given out again (see
# memory_settings.next_number) until everything is forgotten.
memory_items = Table(
    "memory_items",
    metadata,
    Column("user_key", Text, primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("kind", Text, nullable=False),  # name | city | note
    Column("value", Text, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("source", Text, nullable=False),  # the front end: console, discord, slack
    Column("source_ref", Text, nullable=True),  # message id or link, where there is one
)

# Per user: memory paused (nothing stored) or on, and the next item number.
memory_settings = Table(
    "memory_settings",
    metadata,
    Column("user_key", Text, primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("next_number", Integer, nullable=False),
)

# Per user: how many history items and turns are indexed, and the id of the newest item.
# Compared with the newest id actually stored, it tells whether someone else (the SDK itself)
# appended or removed rows since; positions are then brought up to date before they are used.
history_counts = Table(
    "history_counts",
    metadata,
    Column("user_key", Text, primary_key=True),
    Column("item_count", Integer, nullable=False),
    Column("last_id", Integer, nullable=False),
    # Added by schema step 4 (pages of whole turns).
    Column("turn_count", Integer, nullable=False, server_default=text("0")),
)

# The first item's id of every MARK_STRIDE-th turn (turns 1, 1 + stride, ...; `position` is
# the turn's number), so the start of any page of whole turns is one indexed lookup plus at
# most stride - 1 turns away.
history_marks = Table(
    "history_marks",
    metadata,
    Column("user_key", Text, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("message_id", Integer, nullable=False),
)
MARK_STRIDE = 4

# The migrations' own bookkeeping: one row per applied step.
schema_versions = Table(
    "memory_schema_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("applied_at", UtcTimestamp, nullable=False),
)


def iso(moment: datetime) -> str:
    """A timestamp as exports show it: UTC, whole seconds, `+00:00`."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")
