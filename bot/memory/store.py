"""The memory store: one implementation on SQLAlchemy Core (async) for SQLite and PostgreSQL.

History rows are written by this code in the SDK's session-table layout (see `schema.py`), so
a turn's items and fact changes commit in one transaction through public APIs only, and the
SDK's own session classes still read and append them. Every database call runs off the event
loop (aiosqlite's thread, asyncpg's protocol); the process has one engine and one bounded
pool, whatever the number of users. What differs by back end lives in `backends/`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from agents import TResponseInputItem
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..core.domain import (
    AppliedChange,
    CommitResult,
    ForgetReport,
    HistoryPage,
    HistoryWindow,
    MemoryChange,
    MemorySource,
    SearchHit,
    UserKey,
    UserMemory,
    utc_now,
)
from ..core.pacing import paced
from ..core.usage import UsageRecord
from . import community, erasure, forgetting, history, item_rows, positions, search
from .database import Database
from .erasure import Eraser
from .export import export_document
from .schema import schema_versions
from .search_index import SearchIndex
from .shield import finish
from .turns import TurnWriter

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)


# How long an erase waits for its work on the files before answering (the work goes on).
ERASE_WAIT_S = 5.0


class SqlMemoryStore(community.PlaceRows):
    """Every user's history and memory items in a SQLite file or a PostgreSQL database, and
    each server's settings and usage (`PlaceRows`).

    `SqlMemoryStore(path)` for a SQLite file, `SqlMemoryStore("postgresql+asyncpg://…")` for
    PostgreSQL (keyword options: the pool's size, see `PostgresBackend`). Open it with
    `async with` (or first use): that creates the file, checks the tables and migrates.
    """

    def __init__(self, target: str | Path, **options: Any) -> None:
        self._db = Database(target, **options)
        self._backend = self._db.backend
        self._search = SearchIndex(self._backend.name, self._backend.run, self._backend.insert)
        # Erase work left by an earlier run is resumed as soon as the database opens.
        self._eraser = Eraser(self._db, self._search)
        self._db.on_open = self._eraser.start
        self._turns = TurnWriter(self._backend, self._search)

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
        await self._eraser.aclose()
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

    async def recent_items(self, user: UserKey, user_turns: int) -> HistoryWindow:
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
        usage: UsageRecord | None = None,
        generation: int | None = None,
        at: datetime | None = None,
    ) -> CommitResult:
        """Store one finished turn: its history items and memory changes, in one
        transaction. While memory is paused only forgetting happens; nothing is stored. A
        forgotten value is removed from stored history and from this turn's items too.
        `usage` is added to the user's counts (paused or not: they hold no content) by one
        upsert in the same transaction, which returns the new totals. With `generation`
        (what the turn read memory at), raises ErasedDuringTurn and stores nothing when the
        person's memory was erased since, here or in another process. `at` dates the turn
        (default: now): its items, and what the search index says it was said at (importing
        an old conversation)."""
        memory_changes = list(changes)
        if not items and not memory_changes and usage is None:
            return CommitResult(stored=True)
        user_key = str(user)
        source = source or MemorySource(user.frontend)
        stamp = at or utc_now()

        async def write() -> CommitResult:
            async with self._db.writing(lock_user=user_key) as conn:
                return await self._turns.write(
                    conn,
                    user_key,
                    items,
                    memory_changes,
                    source=source,
                    stamp=stamp,
                    generation=generation,
                    usage=usage,
                )

        result = await finish(write())
        if any(c.action == "forget" for c in result.changes):
            pending = await self._eraser.finish(ERASE_WAIT_S)
            changes = [
                replace(c, pending=pending) if c.action == "forget" else c for c in result.changes
            ]
            result = replace(result, changes=changes)
        return result

    async def ping(self) -> None:
        """A cheap query (the schema version), after checking that a SQLite file is still
        the one opened; raises StoreError with one line when the database does not answer."""
        await self._db.ready()
        self._backend.check()
        async with self._db.reading() as conn:
            await conn.execute(select(func.max(schema_versions.c.version)))

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
        """Erase one item ("name", "city" or its number) and every value it ever had, in
        every written form, from the user's stored history and other items, in one
        transaction; None when there is no such item."""
        user_key = str(user)
        async with self._db.writing(lock_user=user_key) as conn:
            item = (await item_rows.load(conn, user_key)).find(which)
            if item is None:
                return None

            async def erase() -> item_rows.ItemErased:
                erased = await item_rows.erase_item(
                    conn,
                    user_key,
                    item,
                    dialect=self.dialect,
                    insert=self._backend.insert,
                    search=self._search,
                )
                await erasure.record(conn, erasure.CHECKPOINT)
                await conn.commit()
                return erased

            erased = await finish(erase())
        pending = await self._eraser.finish(ERASE_WAIT_S)
        return AppliedChange(
            "forget", item.kind, item.number, item.value, redacted=erased.redacted, pending=pending
        )

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
            async for _, step in paced(rows):
                items += history.decode(step)
        return items

    async def export(self, user: UserKey) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict."""
        memory = await self.memory(user)
        async with self._db.reading() as conn:
            usage = await community.export_rows(conn, str(user))
        return {**export_document(user, memory, await self.all_items(user)), "usage": usage}

    # --- erase ----------------------------------------------------------------------------

    async def forget(self, user: UserKey) -> ForgetReport:
        """Erase the user's history and memory: unreadable at once, in one short transaction
        that hides their history rows and deletes their items; the rows themselves are then
        deleted in short batches (see `erasure`), so other people's turns are never held up
        for long. Waits for a turn of this user in another process, so it cannot land
        afterwards; `ForgetReport.pending` says whether the files are clean yet."""
        user_key = str(user)
        async with self._db.reading() as conn:
            counted = await forgetting.count_visible(conn, user_key)
        async with self._db.writing(lock_user=user_key) as conn:
            hiding = forgetting.hide_person(conn, user_key, self._backend, self._search, counted)
            report = await finish(hiding)
        return replace(report, pending=await self._eraser.finish(ERASE_WAIT_S))

    async def search(
        self,
        user: UserKey,
        query: str,
        limit: int = 10,
        *,
        names: Mapping[str, str] | None = None,
        matched_only: bool = False,
    ) -> list[SearchHit]:
        """The user's best `limit` stored messages (theirs and the bot's replies) for
        `query`, best first; `names` maps "user"/"assistant" to who is who (default: their
        remembered name); `matched_only` leaves out messages found for their neighbours."""
        async with self._db.reading() as conn:
            return await search.search(
                conn,
                self._backend.run,
                self.dialect,
                str(user),
                query,
                limit,
                names,
                matched_only=matched_only,
            )

    async def erase_complete(self) -> None:
        """Wait until every erase has reached the files (tests; shutdown)."""
        await self._eraser.wait()


def describe_memory(settings: Settings) -> str:
    """Where memory lives, for the log (never the database URL: it holds a password)."""
    return "PostgreSQL (DATABASE_URL)" if settings.database_url else str(settings.memory_db_path)


def open_store(settings: Settings) -> SqlMemoryStore:
    """The store the settings select: PostgreSQL for a DATABASE_URL, else the SQLite file.
    Use it as `async with open_store(settings) as store` (it also opens on first use)."""
    return SqlMemoryStore(settings.database_url or settings.memory_db_path)
