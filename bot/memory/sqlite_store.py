"""Per-user memory in one SQLite file: the SDK's session tables (history) plus a facts table.

History is written and read through the SDK's `SQLiteSession`; this module only adds what the
SDK has no API for: a facts table beside it, paging, and erasing a user in one transaction.
A session object is opened for one operation and closed right after, because the SDK keeps
connections per session object and a live session per user exhausts file descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import SQLiteSession, TResponseInputItem

from .items import ForgetReport, HistoryPage, newest_turns

log = logging.getLogger(__name__)

# SDK sessions open at once. The SDK serialises all access to one file on a process-wide lock,
# so more would add no throughput, only descriptors (2-3 each, kept by SQLite for reuse).
MAX_OPEN_SESSIONS = 4

_FACTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_facts (
    user_key   TEXT NOT NULL,
    fact       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_key, fact)
)
"""
# How many history items each user has, kept in step with the SDK's table in the same
# transactions, so `!history` pages in constant time however long the history is.
_COUNTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_history_counts (
    user_key TEXT PRIMARY KEY,
    items    INTEGER NOT NULL
)
"""


class MemoryStore:
    """The SQLite file behind every user's history and facts."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._prepare_file()
        # One short-lived session creates the SDK's tables (its own schema, not ours).
        SQLiteSession("schema", self.path).close()
        # A reader connection for facts and paging; WAL lets it read while a turn commits.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute(_FACTS_SCHEMA)
        self._conn.execute(_COUNTS_SCHEMA)
        self._conn.commit()
        self._lock = threading.Lock()
        self._open_sessions = asyncio.Semaphore(MAX_OPEN_SESSIONS)
        self._closed = False
        self._messages_table = "agent_messages"

    def _prepare_file(self) -> None:
        # Memory is personal: owner-only directory and file, created before SQLite opens it.
        if self.path.parent != Path(""):
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- sessions -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def turn_lock(self, user_key: str) -> AsyncIterator[None]:
        """Held around a whole turn on top of the chat service's in-process lock. One SQLite
        file serves one process, so there is nothing more to take here; a shared database
        (PostgreSQL) takes a lock every process sees."""
        yield

    @contextlib.asynccontextmanager
    async def session(self, user_key: str) -> AsyncIterator[SQLiteSession]:
        """The SDK session for one user, closed (with its connections) on exit."""
        async with self._open_sessions:
            session = await asyncio.to_thread(SQLiteSession, user_key, self.path)
            try:
                yield session
            finally:
                session.close()

    async def recent_items(self, user_key: str, user_turns: int) -> list[TResponseInputItem]:
        """The newest `user_turns` turns of history, each whole (never splits a call from
        its output, because a turn's items are only ever stored together)."""
        async with self.session(user_key) as session:
            return await newest_turns(session, user_turns)

    async def commit_turn(
        self,
        user_key: str,
        items: Sequence[TResponseInputItem],
        facts: Mapping[str, str],
    ) -> None:
        """Store one finished turn: its history items and fact changes, in one transaction."""
        if not items and not facts:
            return
        now = _now()
        async with self.session(user_key) as session:

            def write() -> None:
                # The SDK's own insert on the SDK's own connection, so history rows are exactly
                # what `SQLiteSession.add_items` writes; the facts ride in the same transaction.
                with session._write_connection() as conn:
                    if items:
                        session._insert_items(conn, list(items))
                        counted = conn.execute(
                            "UPDATE user_history_counts SET items = items + ? WHERE user_key = ?",
                            (len(items), user_key),
                        ).rowcount
                        if not counted:
                            # First turn (or a file from before the counts): count once.
                            conn.execute(
                                "INSERT INTO user_history_counts (user_key, items)"
                                f" SELECT ?, COUNT(*) FROM {session.messages_table}"
                                " WHERE session_id = ?",
                                (user_key, user_key),
                            )
                    conn.executemany(
                        "INSERT INTO user_facts (user_key, fact, value, updated_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (user_key, fact)"
                        " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        [(user_key, fact, value, now) for fact, value in facts.items()],
                    )
                    conn.commit()

            await asyncio.to_thread(write)

    # --- reads ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("MemoryStore is closed")
            yield self._conn

    async def facts(self, user_key: str) -> dict[str, str]:
        """The user's stored facts, e.g. {"name": "Ada", "city": "Lisbon"}."""

        def read() -> dict[str, str]:
            with self._reader() as conn:
                rows = conn.execute(
                    "SELECT fact, value FROM user_facts WHERE user_key = ? ORDER BY fact",
                    (user_key,),
                ).fetchall()
            return {fact: value for fact, value in rows}

        return await asyncio.to_thread(read)

    async def history_page(self, user_key: str, page: int, per_page: int) -> HistoryPage:
        """Page `page` (1 = newest) of the user's stored items, oldest first within it."""
        if page < 1 or per_page < 1:
            raise ValueError("page and per_page start at 1")

        def read() -> HistoryPage:
            with self._reader() as conn:
                counted = conn.execute(
                    "SELECT items FROM user_history_counts WHERE user_key = ?", (user_key,)
                ).fetchone()
                (total,) = (
                    counted
                    or conn.execute(
                        f"SELECT COUNT(*) FROM {self._messages_table} WHERE session_id = ?",
                        (user_key,),
                    ).fetchone()
                )
                rows = conn.execute(
                    f"SELECT message_data FROM {self._messages_table} WHERE session_id = ?"
                    " ORDER BY id DESC LIMIT ? OFFSET ?",
                    (user_key, per_page, (page - 1) * per_page),
                ).fetchall()
            items = [json.loads(data) for (data,) in reversed(rows)]
            pages = max(1, -(-total // per_page))
            return HistoryPage(items=items, page=page, pages=pages, total=total)

        return await asyncio.to_thread(read)

    async def all_items(self, user_key: str) -> list[TResponseInputItem]:
        """Every stored item of the user, oldest first."""
        async with self.session(user_key) as session:
            return await session.get_items()

    async def export(self, user_key: str) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict."""

        def read_facts() -> list[tuple[str, str, str]]:
            with self._reader() as conn:
                return conn.execute(
                    "SELECT fact, value, updated_at FROM user_facts WHERE user_key = ?"
                    " ORDER BY fact",
                    (user_key,),
                ).fetchall()

        fact_rows = await asyncio.to_thread(read_facts)
        return {
            "user": user_key,
            "exported_at": _now(),
            "facts": {fact: {"value": v, "updated_at": at} for fact, v, at in fact_rows},
            "history": await self.all_items(user_key),
        }

    # --- erase ----------------------------------------------------------------------------

    async def forget(self, user_key: str) -> ForgetReport:
        """Erase the user's history and facts in one transaction; report what was erased."""
        async with self.session(user_key) as session:

            def erase() -> ForgetReport:
                with session._write_connection() as conn:
                    # Freed pages are zeroed, so erased text is not left readable in the file.
                    conn.execute("PRAGMA secure_delete=ON")
                    conn.execute("BEGIN IMMEDIATE")
                    facts = dict(
                        conn.execute(
                            "SELECT fact, value FROM user_facts WHERE user_key = ?", (user_key,)
                        ).fetchall()
                    )
                    deleted = conn.execute(
                        f"DELETE FROM {session.messages_table} WHERE session_id = ?",
                        (user_key,),
                    ).rowcount
                    conn.execute(
                        f"DELETE FROM {session.sessions_table} WHERE session_id = ?",
                        (user_key,),
                    )
                    conn.execute("DELETE FROM user_facts WHERE user_key = ?", (user_key,))
                    conn.execute("DELETE FROM user_history_counts WHERE user_key = ?", (user_key,))
                    conn.commit()
                    # The WAL still holds the pages as they were before the erase; copy the
                    # zeroed pages back and empty it (best effort while readers are active).
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                return ForgetReport(history_items=deleted, facts=facts)

            return await asyncio.to_thread(erase)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
