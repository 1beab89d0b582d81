"""Step 7: `!history` pages of whole turns. Kept positions count turns too (`turn_count`),
and the marks point at turns instead of items; the old marks mean something else, so every
user's positions are dropped here and rebuilt the first time they are needed."""

from __future__ import annotations

from sqlalchemy import Connection, delete, inspect, text

from ..schema import history_counts, history_marks

NAME = "history pages of whole turns"


def upgrade(conn: Connection) -> None:
    columns = {column["name"] for column in inspect(conn).get_columns(history_counts.name)}
    if "turn_count" not in columns:
        conn.execute(
            text("ALTER TABLE history_counts ADD COLUMN turn_count INTEGER NOT NULL DEFAULT 0")
        )
    conn.execute(delete(history_marks))
    conn.execute(delete(history_counts))
