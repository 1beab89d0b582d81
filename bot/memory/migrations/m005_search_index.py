"""Step 5: the search index (`search_users`, `search_docs`, and the full-text index: SQLite
FTS5 tables `search_ft_<shard>`, PostgreSQL a tsvector with a GIN index), filled from every
history already stored, so an upgraded file finds every old message too.

Old messages are dated by the row's `created_at` (when it was stored). Rows an erase hid are
not indexed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, text

from ...core.domain import utc_now
from ..ranking import has_time, word_count
from ..schema import SEARCH_SHARDS, agent_messages, memory_settings, search_docs, search_users
from ..search_index import TSV_EXPRESSION, documents, first_position, fts_table, shard_of

NAME = "search index"
# Rows read and indexed per batch while filling the index.
BATCH = 2_000


def upgrade(conn: Connection) -> None:
    search_users.create(conn, checkfirst=True)
    search_docs.create(conn, checkfirst=True)
    if conn.dialect.name == "sqlite":
        for shard in range(SEARCH_SHARDS):
            conn.execute(
                text(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts_table(shard)} USING fts5("
                    "body, prev1, prev2, content='', "
                    "tokenize='porter unicode61 remove_diacritics 2')"
                )
            )
    else:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS btree_gin"))
        conn.execute(text("ALTER TABLE search_docs ADD COLUMN IF NOT EXISTS uid INTEGER"))
        conn.execute(text("ALTER TABLE search_docs ADD COLUMN IF NOT EXISTS tsv tsvector"))
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS idx_search_docs_tsv ON search_docs USING gin (uid, tsv)"
            )
        )
    fill(conn)


def fill(conn: Connection) -> None:
    """Index every stored history row not indexed yet (all of them, in this step)."""
    messages = agent_messages.c
    settings = memory_settings.c
    hidden = dict(conn.execute(select(settings.user_key, settings.hidden_through)).all())
    state: dict[str, list[Any]] = defaultdict(list)  # user → [uid, position, last, before]
    after = 0
    while True:
        rows = conn.execute(
            select(messages.id, messages.session_id, messages.message_data, messages.created_at)
            .where(messages.id > after)
            .order_by(messages.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        docs, fts = [], defaultdict(list)
        for row in rows:
            if row.id <= hidden.get(row.session_id, 0):
                continue
            try:
                item = json.loads(row.message_data)
            except (ValueError, TypeError):
                continue
            said = documents([item]) if isinstance(item, dict) else []
            if not said:
                continue
            person = state[row.session_id]
            if not person:
                uid = conn.execute(
                    search_users.insert()
                    .values(user_key=row.session_id)
                    .returning(search_users.c.uid)
                ).scalar_one()
                person.extend([uid, first_position(uid), "", ""])
            uid, position, last, before = person
            role, body = said[0]
            docs.append(
                {
                    "id": position,
                    "uid": uid,
                    "role": role,
                    "said_at": _moment(row.created_at),
                    "body": body,
                    "words": word_count(body),
                    "has_time": has_time(body),
                    "prev1": last,
                    "prev2": before,
                }
            )
            fts[shard_of(uid)].append(docs[-1])
            person[1:] = [position + 1, body, last]
        if not docs:
            continue
        if conn.dialect.name == "sqlite":
            conn.execute(search_docs.insert(), [_doc(d) for d in docs])
            for shard, rows_in in fts.items():
                conn.execute(
                    text(
                        f"INSERT INTO {fts_table(shard)}(rowid, body, prev1, prev2) "
                        "VALUES (:id, :body, :prev1, :prev2)"
                    ),
                    [{k: d[k] for k in ("id", "body", "prev1", "prev2")} for d in rows_in],
                )
        else:
            conn.execute(
                text(
                    "INSERT INTO search_docs (id, uid, role, said_at, body, words, has_time, tsv) "
                    "VALUES (:id, :uid, :role, :said_at, :body, :words, :has_time, "
                    f"{TSV_EXPRESSION})"
                ),
                docs,
            )


def _doc(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("id", "role", "said_at", "body", "words", "has_time")}


def _moment(value: Any) -> datetime:
    """A stored `created_at` (naive UTC, as the SDK writes it; text on SQLite) as a moment."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return utc_now()
    if not isinstance(value, datetime):
        return utc_now()
    return value if value.tzinfo else value.replace(tzinfo=UTC)
