"""Step 1: the tables of the first release: the SDK's session tables and `user_facts`.

A file or database written by the first release (or by the SDK alone) already has some or
all of them; what exists is kept as it is, and what is missing is created.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ..schema import agent_messages, agent_sessions, user_facts

NAME = "history and facts"


def upgrade(conn: Connection) -> None:
    for table in (agent_sessions, agent_messages, user_facts):
        table.create(conn, checkfirst=True)
    # Created apart from their table: a table the SDK made has only its own index.
    for index in agent_messages.indexes:
        index.create(conn, checkfirst=True)
