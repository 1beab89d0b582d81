"""Step 6: server and channel settings (`place_settings`) and usage counts (`usage_days`).

Both tables are new and depend on no other step's tables: nothing is moved or rewritten, so
a database at any earlier version gains them with everything it holds left as it was.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ..schema import place_settings, usage_days

NAME = "server settings and usage"


def upgrade(conn: Connection) -> None:
    place_settings.create(conn, checkfirst=True)
    usage_days.create(conn, checkfirst=True)
    for index in usage_days.indexes:
        index.create(conn, checkfirst=True)
