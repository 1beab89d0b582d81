"""The memory store: one implementation on SQLAlchemy Core (async) for SQLite and PostgreSQL.

History rows are written by this code in the SDK's session-table layout (see `schema.py`), so
a turn's items and fact changes commit in one transaction through public APIs only, and the
SDK's own session classes still read and append them. Every database call runs off the event
loop (aiosqlite's thread, asyncpg's protocol); the process has one engine and one bounded
pool, whatever the number of users. What differs by back end lives in `backends/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from agents import TResponseInputItem
from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..core.domain import (
    FACT_NAMES,
    AppliedChange,
    CommitResult,
    ForgetReport,
    HistoryPage,
    MemoryChange,
    MemorySource,
    UserKey,
    UserMemory,
    utc_now,
)
from . import history, item_rows, positions
from .database import Database
from .redact import pattern, redact
from .schema import agent_messages, agent_sessions, dump_item, iso
from .shield import finish

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

_messages = agent_messages.c
# A commit's statements, built (and compiled) once: every one is a round trip to the driver.
_USER = bindparam("user")
# One read for the pause flag and the kept history positions.
_STATE = select(item_rows.paused_column(_USER), *positions.kept_columns(_USER))
_ADD_ITEM = agent_messages.insert().values(session_id=_USER, message_data=bindparam("data"))
# Stored items decoded per step of `all_items` (well under a millisecond), and the pause
# after each step: a real wait, so the loop thread releases the GIL to the driver threads
# running other users' queries (`sleep(0)` would keep it for up to the 5 ms switch interval).
DECODE_SLICE = 100
DECODE_PAUSE_S = 0.0005


class SqlMemoryStore:
    """Every user's history and memory items in a SQLite file or a PostgreSQL database.

    `SqlMemoryStore(path)` for a SQLite file, `SqlMemoryStore("postgresql+asyncpg://…")` for
    PostgreSQL (keyword options: the pool's size, see `PostgresBackend`). Open it with
    `async with` (or first use): that creates the file, checks the tables and migrates.
    """

    def __init__(self, target: str | Path, **options: Any) -> None:
        self._db = Database(target, **options)
        self._backend = self._db.backend
        # The session-row upsert of every commit, built once (its INSERT is the dialect's).
        self._touch_session = (
            self._backend.insert(agent_sessions)
            .values(session_id=bindparam("user"))
            .on_conflict_do_update(
                index_elements=[agent_sessions.c.session_id],
                set_={"updated_at": text("CURRENT_TIMESTAMP")},
            )
        )

    @property
    def engine(self) -> AsyncEngine:
        """The process-wide engine (and pool) every query of this store uses."""
        return self._db.engine

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def __repr__(self) -> str:
        return f"SqlMemoryStore({self._db.describe()})"

    async def open(self) -> Self:
        """Create the file (SQLite), check the tables are ours, and migrate. Raises
        StoreError with one line when the database cannot be used."""
        await self._db.open()
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._db.aclose()

    async def migrate(self) -> None:
        """Check that existing tables are ours, then apply pending migration steps (opening
        the store does this too); safe from several processes at once."""
        await self._db.ready()
        await self._db.migrate()

    # --- turns ----------------------------------------------------------------------------

    def turn_lock(self, user: UserKey) -> contextlib.AbstractAsyncContextManager[None]:
        """Held around a whole turn: a per-user lock every process sees (PostgreSQL); a
        SQLite file serves one process, so there it takes nothing."""
        return self._backend.turn_lock(str(user))

    async def recent_items(self, user: UserKey, user_turns: int) -> list[TResponseInputItem]:
        """The newest `user_turns` turns, each whole (a tool call is never separated from its
        output): read newest first, by id, in one read transaction, never a row twice."""
        async with self._db.reading() as conn:
            return await history.newest_turns(conn, str(user), user_turns, self._backend.run)

    async def commit_turn(
        self,
        user: UserKey,
        items: Sequence[TResponseInputItem],
        changes: Sequence[MemoryChange] = (),
        *,
        source: MemorySource | None = None,
    ) -> CommitResult:
        """Store one finished turn: its history items and memory changes, in one
        transaction. While memory is paused only forgetting happens; nothing is stored. A
        forgotten value is removed from stored history and from this turn's items too."""
        memory_changes = list(changes)
        if not items and not memory_changes:
            return CommitResult(stored=True)
        user_key = str(user)
        source = source or MemorySource(user.frontend)
        stamp = utc_now()

        async def write() -> CommitResult:
            async with self._db.writing(lock_user=user_key) as conn:
                # One read for the pause flag and the kept history positions: every
                # statement is a round trip to the driver.
                (state,) = await self._backend.run(conn, _STATE, {"user": user_key})
                paused = bool(state[0])
                wanted = [c for c in memory_changes if c.action == "forget" or not paused]
                applied = (
                    await item_rows.apply(
                        conn,
                        user_key,
                        wanted,
                        source=source,
                        stamp=stamp,
                        insert=self._backend.insert,
                        dialect=self.dialect,
                    )
                    if wanted
                    else []
                )
                if paused:
                    return CommitResult(stored=False, changes=applied)
                forgotten = pattern(c.value for c in applied if c.action == "forget")
                stored = [redact(i, forgotten) for i in items] if forgotten else list(items)
                if stored:
                    await self._insert_history(conn, user_key, stored)
                    kept = positions.kept_from(*state[1:])
                    await positions.extend(conn, user_key, kept, stored, self._backend.run)
                return CommitResult(stored=True, changes=applied, items=stored)

        result = await finish(write())
        if any(c.action == "forget" for c in result.changes):
            await self._backend.erase()
        return result

    async def _insert_history(
        self, conn: AsyncConnection, user_key: str, items: Sequence[TResponseInputItem]
    ) -> None:
        # As the SDK's add_items: the session row (created, or its updated_at touched), then
        # the items in order (one executemany).
        run = self._backend.run
        await run(conn, self._touch_session, {"user": user_key})
        rows = [{"user": user_key, "data": dump_item(item, self.dialect)} for item in items]
        await run(conn, _ADD_ITEM, rows)

    # --- memory items ---------------------------------------------------------------------

    async def memory(self, user: UserKey) -> UserMemory:
        """The user's memory items (name, city, notes) and whether memory is paused."""
        async with self._db.reading() as conn:
            return await item_rows.load(conn, str(user))

    async def set_paused(self, user: UserKey, paused: bool) -> None:
        """Pause (nothing new is stored) or resume the user's memory; kept across restarts."""
        async with self._db.writing() as conn:
            await item_rows.set_paused(conn, str(user), paused, self._backend.insert)

    async def forget_item(self, user: UserKey, which: str) -> AppliedChange | None:
        """Erase one item ("name", "city" or its number) and every trace of its value in
        the user's stored history, in one transaction; None when there is no such item."""
        user_key = str(user)
        async with self._db.writing(lock_user=user_key) as conn:
            item = (await item_rows.load(conn, user_key)).find(which)
            if item is None:
                return None
            redacted = await finish(item_rows.erase_item(conn, user_key, item, self.dialect))
        await self._backend.erase()
        return AppliedChange("forget", item.kind, item.number, item.value, redacted=redacted)

    # --- reads ----------------------------------------------------------------------------

    async def history_page(self, user: UserKey, page: int, per_page: int) -> HistoryPage:
        """Page `page` (1 = newest) of the user's stored history, `per_page` whole turns,
        oldest first within it: the kept turn count and a mark give the page's first id; the
        page is read from it by id."""
        user_key = str(user)
        if page < 1 or per_page < 1:
            raise ValueError("page and per_page start at 1")
        async with self._db.reading() as conn:
            kept = await positions.kept_count(conn, user_key)
            if kept.up_to_date:
                return await history.read_page(conn, user_key, kept, page, per_page)
        # Someone else (the SDK itself) added or removed rows since our last commit.
        async with self._db.writing(lock_user=user_key) as conn:
            await positions.reconcile(conn, user_key)
            kept = await positions.kept_count(conn, user_key)
            return await history.read_page(conn, user_key, kept, page, per_page)

    async def all_items(self, user: UserKey) -> list[TResponseInputItem]:
        """Every stored item of the user, oldest first, read in short pages by id so no read
        holds the database for long, and decoded a slice at a time: a long history would
        otherwise keep the loop from other users' turns for tens of milliseconds."""
        user_key = str(user)
        items: list[TResponseInputItem] = []
        after: int | None = 0
        while after is not None:
            async with self._db.reading() as conn:
                rows, after = await history.rows_after(conn, user_key, after, self._backend.run)
            for start in range(0, len(rows), DECODE_SLICE):
                items += history.decode(rows[start : start + DECODE_SLICE])
                await asyncio.sleep(DECODE_PAUSE_S)
        return items

    async def export(self, user: UserKey) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict."""
        memory = await self.memory(user)
        return export_document(user, memory, await self.all_items(user))

    # --- erase ----------------------------------------------------------------------------

    async def forget(self, user: UserKey) -> ForgetReport:
        """Erase the user's history and facts in one transaction; report what was erased.
        Waits for a turn of this user in another process, so it cannot land afterwards."""
        async with self._db.writing(lock_user=str(user)) as conn:
            report = await finish(_erase(conn, str(user)))
        await self._backend.erase()
        return report

    async def erase_complete(self) -> None:
        """Wait until every forget has been erased from the file (SQLite checkpoint retries)."""
        await self._backend.erase_complete()


async def _erase(conn: AsyncConnection, user_key: str) -> ForgetReport:
    items = await item_rows.forget_all(conn, user_key)
    deleted = await conn.execute(delete(agent_messages).where(_messages.session_id == user_key))
    await conn.execute(delete(agent_sessions).where(agent_sessions.c.session_id == user_key))
    await positions.forget(conn, user_key)
    await conn.commit()
    return ForgetReport(
        history_items=deleted.rowcount,
        facts={i.kind: i.value for i in items if i.kind in FACT_NAMES},
        notes=[i.value for i in items if i.kind == "note"],
    )


def export_document(
    user: UserKey, memory: UserMemory, history: list[TResponseInputItem]
) -> dict[str, Any]:
    """The export of one person: their memory items (name and city also as `facts`, as the
    first release exported them) and every stored history item."""
    return {
        "user": str(user),
        "exported_at": iso(utc_now()),
        "memory_paused": memory.paused,
        "facts": {
            item.kind: {"value": item.value, "updated_at": iso(item.updated_at)}
            for item in memory.items
            if item.kind in FACT_NAMES
        },
        "memory": [
            {
                "number": item.number,
                "kind": item.kind,
                "value": item.value,
                "created_at": iso(item.created_at),
                "updated_at": iso(item.updated_at),
                "source": {"frontend": item.source.frontend, "ref": item.source.ref},
            }
            for item in memory.items
        ],
        "history": history,
    }


def describe_memory(settings: Settings) -> str:
    """Where memory lives, for the log (never the database URL: it holds a password)."""
    return "PostgreSQL (DATABASE_URL)" if settings.database_url else str(settings.memory_db_path)


def open_store(settings: Settings) -> SqlMemoryStore:
    """The store the settings select: PostgreSQL for a DATABASE_URL, else the SQLite file.
    Use it as `async with open_store(settings) as store` (it also opens on first use)."""
    return SqlMemoryStore(settings.database_url or settings.memory_db_path)
