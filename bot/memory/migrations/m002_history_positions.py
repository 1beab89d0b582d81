"""Step 2: kept history positions (`history_counts`, `history_marks`) for constant-time pages.

They replace the first release's `user_history_counts` (a count without positions). Nothing
is computed here: each user's positions are built the first time they are needed.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

from ..schema import history_counts, history_marks

NAME = "history positions"


def upgrade(conn: Connection) -> None:
    history_counts.create(conn, checkfirst=True)
    history_marks.create(conn, checkfirst=True)
    if inspect(conn).has_table("user_history_counts"):
        conn.execute(text("DROP TABLE user_history_counts"))
