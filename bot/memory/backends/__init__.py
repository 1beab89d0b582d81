"""What differs between SQLite and PostgreSQL; everything else is in `bot/memory/store.py`.

Behaviour differs in two places only: the cross-process turn lock (an advisory lock per user
on PostgreSQL; a SQLite file serves one process, and its write lock orders the commits) and
the erase step of forget (SQLite: freed pages are zeroed by `secure_delete` and a WAL
checkpoint writes them over the old text). The rest here is plumbing: how to connect, how a
write transaction begins, how a driver's error reads as one line for the operator (`translate`,
the one place that words them), and `run`,
which executes the same SQLAlchemy statements with the same results either way (on SQLite in
one trip to aiosqlite's thread instead of the adapter's three or four: a turn's overhead over
the bare SDK was mostly those trips).
"""

from __future__ import annotations

from .postgres import PostgresBackend, async_url, is_postgres_url
from .sqlite import SqliteBackend

Backend = SqliteBackend | PostgresBackend

__all__ = ["Backend", "PostgresBackend", "SqliteBackend", "async_url", "is_postgres_url"]
