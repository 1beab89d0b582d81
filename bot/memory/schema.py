"""The tables the memory lives in, defined here and created by `bot.memory.migrations`.

History keeps the openai-agents session-table layout (`agent_sessions`, `agent_messages`:
the same columns, the same JSON) so the SDK's own `SQLiteSession(user_key, path)` and
`SQLAlchemySession(user_key, engine=...)` read and append a user's history in our database.
Everything else is ours: memory items, the kept positions that make `!history` pages cost the
same at any depth, and each server's settings and usage counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
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

# Per user: memory paused (nothing stored) or on, and the next item number; how many times
# their memory was erased (a turn that read it before an erase is not stored after it), and
# the id of their newest history row an erase hid (rows up to it are unreadable at once, and
# deleted in short batches by an erase job).
memory_settings = Table(
    "memory_settings",
    metadata,
    Column("user_key", Text, primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("next_number", Integer, nullable=False),
    Column("erase_generation", Integer, nullable=False, server_default=text("0")),
    Column("hidden_through", Integer, nullable=False, server_default=text("0")),
)

# Every written form an item's value ever had (as stored and as the model gave it, through
# every correction), so forgetting the item erases all of them.
memory_item_forms = Table(
    "memory_item_forms",
    metadata,
    Column("user_key", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("form", Text, nullable=False),
    Index("idx_memory_item_forms_user", "user_key", "number"),
)

# Erasure work owed to the files: deleting a person's hidden history rows (`purge`, up to
# `through_id`) and emptying SQLite's WAL of erased pages (`checkpoint`). Written in the
# erase's own transaction and deleted when done, so a crash or a full disk only delays it.
erase_jobs = Table(
    "memory_erase_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),  # purge | checkpoint
    Column("user_key", Text, nullable=True),
    Column("through_id", Integer, nullable=True),
    Column("created_at", UtcTimestamp, nullable=False),
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

# --- the search index -------------------------------------------------------------------

# Each person's number in the index (never reused: a forgotten person's rows, until deleted,
# sit in a range nobody reads). A person's indexed messages are one contiguous id range,
# (uid << 32) + position, so a search is scoped by an id range and a message's neighbours are
# the ids beside it.
search_users = Table(
    "search_users",
    metadata,
    Column("uid", Integer, primary_key=True, autoincrement=True),
    Column("user_key", Text, nullable=False, unique=True),
    sqlite_autoincrement=True,
)

# One row per indexed message (what the person said, and the bot's replies; not tool calls):
# the text exactly as indexed, who said it and when, and what ranking uses. The full-text
# index itself is per back end (see `search_index.py`): SQLite FTS5 tables
# `search_ft_<shard>` (contentless; the text, the message before and the one before that,
# as three columns), PostgreSQL a `tsv` column with a GIN index on (uid, tsv).
search_docs = Table(
    "search_docs",
    metadata,
    # SQLite: INTEGER, so the id is the table's rowid (a BIGINT key would be a second index).
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("role", Text, nullable=False),  # user | assistant
    Column("said_at", UtcTimestamp, nullable=False),
    Column("body", Text, nullable=False),
    Column("words", Integer, nullable=False),
    Column("has_time", Boolean, nullable=False),
)
SEARCH_SHARDS = 64  # SQLite: FTS5 tables, a person's in `uid % SEARCH_SHARDS`
POSITION_BITS = 32

# Server and channel settings, changed at run time by each server's admins: one row per
# setting, its value as JSON. `server` is the front end and the server's id there
# (`discord:<guild>`, `slack:<team>`, `console:local`); `channel` is "" for the whole server.
place_settings = Table(
    "place_settings",
    metadata,
    Column("server", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("updated_by", Text, nullable=False),  # the admin's memory key
)

# Model usage per UTC day, scope (a server, or a front end's direct messages) and user: what
# the daily limits, `!usage` and `/config usage` count. Counts only, never content.
usage_days = Table(
    "usage_days",
    metadata,
    Column("day", Text, primary_key=True),  # YYYY-MM-DD, UTC
    Column("scope", Text, primary_key=True),
    Column("user_key", Text, primary_key=True),
    Column("turns", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    # `!usage`: one person's days, across scopes.
    Index("idx_usage_days_user", "user_key", "day"),
)

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
