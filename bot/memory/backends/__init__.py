"""What differs between SQLite and PostgreSQL; everything else is in `bot/memory/store.py`.

Behaviour differs in two places only: the cross-process turn lock (an advisory lock per user
on PostgreSQL; a SQLite file serves one process, and its write lock orders the commits) and
the erase step of forget (SQLite: freed pages are zeroed by `secure_delete` and a WAL
checkpoint writes them over the old text). The rest here is plumbing: how to connect, how a
write transaction begins, and how a driver's error reads as one line for the operator.
"""

from __future__ import annotations

from .postgres import PostgresBackend, async_url, is_postgres_url
from .sqlite import SqliteBackend
from .tasks import finish

Backend = SqliteBackend | PostgresBackend

__all__ = ["Backend", "PostgresBackend", "SqliteBackend", "async_url", "finish", "is_postgres_url"]
