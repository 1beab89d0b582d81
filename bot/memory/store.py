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
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from agents import TResponseInputItem
from sqlalchemy import Connection, delete, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import migrations, positions
from .backends import Backend, PostgresBackend, SqliteBackend, finish, is_postgres_url
from .errors import StoreError
from .items import ForgetReport, HistoryPage, is_user_message
from .schema import agent_messages, agent_sessions, dump_item, iso, metadata, now, user_facts

log = logging.getLogger(__name__)

# Items per read when a whole history is read (export): each page is its own short read.
READ_PAGE = 500
_messages = agent_messages.c


def _decode(rows: Sequence[Any]) -> list[TResponseInputItem]:
    items = []
    for (data,) in rows:
        try:
            items.append(json.loads(data))
        except (json.JSONDecodeError, TypeError):
            continue  # as the SDK's sessions do: a corrupt row is skipped, not fatal
    return items


class SqlMemoryStore:
    """Every user's history and facts in a SQLite file or a PostgreSQL database.

    `SqlMemoryStore(path)` for a SQLite file, `SqlMemoryStore("postgresql+asyncpg://…")` for
    PostgreSQL (keyword options: the pool's size, see `PostgresBackend`). Open it with
    `async with` (or first use): that creates the file, checks the tables and migrates.
    """

    def __init__(self, target: str | Path, **options: Any) -> None:
        self._backend: Backend = (
            PostgresBackend(target, **options)
            if isinstance(target, str) and is_postgres_url(target)
            else SqliteBackend(Path(target), **options)
        )
        self._opened = False
        self._closed = False
        self._open_lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        """The process-wide engine (and pool) every query of this store uses."""
        return self._backend.engine

    @property
    def dialect(self) -> str:
        return self._backend.name

    def __repr__(self) -> str:
        return f"SqlMemoryStore({self._backend.describe()})"

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> Self:
        """Create the file (SQLite), check the tables are ours, and migrate. Raises
        StoreError with one line when the database cannot be used."""
        if self._closed:
            raise RuntimeError("the memory store is closed")
        async with self._open_lock:
            if not self._opened:
                try:
                    self._backend.prepare()
                    await self._migrate()
                except BaseException:
                    await self._backend.engine.dispose()
                    raise
                self._opened = True
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._backend.aclose()

    async def _ready(self) -> None:
        if self._closed:
            raise RuntimeError("the memory store is closed")
        if not self._opened:
            await self.open()

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        """Driver errors we recognise become StoreError/StoreFull (one line); others pass."""
        try:
            yield
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            translated = self._backend.translate(exc)
            if translated is None:
                raise
            raise translated from exc

    async def migrate(self) -> None:
        """Check that existing tables are ours, then apply pending migration steps (opening
        the store does this too); safe from several processes at once."""
        if not self._opened:
            await self.open()
        else:
            await self._migrate()

    async def _migrate(self) -> None:
        where = self._backend.describe()
        try:
            async with self._errors(), self.engine.connect() as conn:
                version = await conn.run_sync(_check_layout, where)
            if version != migrations.LATEST:
                async with self._errors(), self._backend.write() as conn:
                    await migrations.migrate(conn, self._backend.lock_schema)
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            log.debug("opening %s failed", where, exc_info=True)
            raise StoreError(
                f"cannot open the memory database {where} ({type(exc).__name__})"
            ) from exc

    # --- turns ----------------------------------------------------------------------------

    def turn_lock(self, user_key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held around a whole turn: a per-user lock every process sees (PostgreSQL); a
        SQLite file serves one process, so there it takes nothing."""
        return self._backend.turn_lock(user_key)

    async def recent_items(self, user_key: str, user_turns: int) -> list[TResponseInputItem]:
        """The newest `user_turns` turns, each whole (a tool call is never separated from its
        output): read newest first, by id, in one read transaction, never a row twice."""
        await self._ready()
        chunk = max(8, user_turns * 6)
        newest_first: list[TResponseInputItem] = []
        starts = 0
        before: int | None = None
        async with self._errors(), self.engine.connect() as conn:
            while True:
                query = select(_messages.id, _messages.message_data).where(
                    _messages.session_id == user_key
                )
                if before is not None:
                    query = query.where(_messages.id < before)
                rows = (await conn.execute(query.order_by(_messages.id.desc()).limit(chunk))).all()
                for item in _decode([(data,) for _, data in rows]):
                    newest_first.append(item)
                    starts += is_user_message(item)
                    if starts == user_turns:
                        return newest_first[::-1]
                if len(rows) < chunk:
                    break
                before = rows[-1].id
        # All history fits; it starts at a user message, so the window starts at a turn.
        items = newest_first[::-1]
        first = next((n for n, item in enumerate(items) if is_user_message(item)), len(items))
        return items[first:]

    async def commit_turn(
        self, user_key: str, items: Sequence[TResponseInputItem], facts: Mapping[str, str]
    ) -> None:
        """Store one finished turn: its history items and fact changes, in one transaction."""
        if not items and not facts:
            return
        await self._ready()
        rows = [
            {"session_id": user_key, "message_data": dump_item(item, self.dialect)}
            for item in items
        ]
        insert = self._backend.insert
        stamp = now()

        async def write() -> None:
            async with self._errors(), self._backend.write() as conn:
                await self._backend.lock_user(conn, user_key)
                if rows:
                    # As the SDK's add_items: the session row (created, or its updated_at
                    # touched), then the items in order.
                    await conn.execute(
                        insert(agent_sessions)
                        .values(session_id=user_key)
                        .on_conflict_do_update(
                            index_elements=[agent_sessions.c.session_id],
                            set_={"updated_at": text("CURRENT_TIMESTAMP")},
                        )
                    )
                    added = await conn.execute(
                        agent_messages.insert().returning(
                            _messages.id, sort_by_parameter_order=True
                        ),
                        rows,
                    )
                    await positions.extend(conn, user_key, list(added.scalars()))
                if facts:
                    upsert = insert(user_facts)
                    await conn.execute(
                        upsert.on_conflict_do_update(
                            index_elements=[user_facts.c.user_key, user_facts.c.fact],
                            set_={
                                "value": upsert.excluded.value,
                                "updated_at": upsert.excluded.updated_at,
                            },
                        ),
                        [
                            {"user_key": user_key, "fact": f, "value": v, "updated_at": stamp}
                            for f, v in facts.items()
                        ],
                    )

        await finish(write())

    # --- reads ----------------------------------------------------------------------------

    async def facts(self, user_key: str) -> dict[str, str]:
        """The user's stored facts, e.g. {"name": "Ada", "city": "Lisbon"}."""
        await self._ready()
        async with self._errors(), self.engine.connect() as conn:
            rows = await conn.execute(
                select(user_facts.c.fact, user_facts.c.value)
                .where(user_facts.c.user_key == user_key)
                .order_by(user_facts.c.fact)
            )
            return {fact: value for fact, value in rows.all()}

    async def history_page(self, user_key: str, page: int, per_page: int) -> HistoryPage:
        """Page `page` (1 = newest) of the user's stored items, oldest first within it: the
        kept count and a mark give the page's first id; the page is read from it by id."""
        if page < 1 or per_page < 1:
            raise ValueError("page and per_page start at 1")
        await self._ready()
        async with self._errors(), self.engine.connect() as conn:
            kept = await positions.kept_count(conn, user_key)
            if kept.up_to_date:
                return await self._read_page(conn, user_key, kept.items, page, per_page)
        # Someone else (the SDK itself) added or removed rows since our last commit.
        async with self._errors(), self._backend.write() as conn:
            await self._backend.lock_user(conn, user_key)
            await positions.reconcile(conn, user_key)
            kept = await positions.kept_count(conn, user_key)
            return await self._read_page(conn, user_key, kept.items, page, per_page)

    @staticmethod
    async def _read_page(
        conn: AsyncConnection, user_key: str, total: int, page: int, per_page: int
    ) -> HistoryPage:
        pages = max(1, -(-total // per_page))
        if page > pages or total == 0:
            return HistoryPage(items=[], page=page, pages=pages, total=total)
        last = total - (page - 1) * per_page
        first = max(1, last - per_page + 1)
        from_id, skip = positions.page_start(user_key, first)
        rows = await conn.execute(
            select(_messages.message_data)
            .where(_messages.session_id == user_key, _messages.id >= from_id)
            .order_by(_messages.id)
            .limit(skip + last - first + 1)
        )
        items = _decode(rows.all()[skip:])
        return HistoryPage(items=items, page=page, pages=pages, total=total)

    async def all_items(self, user_key: str) -> list[TResponseInputItem]:
        """Every stored item of the user, oldest first, read in short pages by id so no read
        holds the database for long."""
        await self._ready()
        items: list[TResponseInputItem] = []
        after = 0
        while True:
            async with self._errors(), self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(_messages.id, _messages.message_data)
                        .where(_messages.session_id == user_key, _messages.id > after)
                        .order_by(_messages.id)
                        .limit(READ_PAGE)
                    )
                ).all()
            items += _decode([(data,) for _, data in rows])
            if len(rows) < READ_PAGE:
                return items
            after = rows[-1].id

    async def export(self, user_key: str) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict."""
        await self._ready()
        async with self._errors(), self.engine.connect() as conn:
            fact_rows = (
                await conn.execute(
                    select(user_facts.c.fact, user_facts.c.value, user_facts.c.updated_at)
                    .where(user_facts.c.user_key == user_key)
                    .order_by(user_facts.c.fact)
                )
            ).all()
        return {
            "user": user_key,
            "exported_at": iso(now()),
            "facts": {fact: {"value": v, "updated_at": iso(at)} for fact, v, at in fact_rows},
            "history": await self.all_items(user_key),
        }

    # --- erase ----------------------------------------------------------------------------

    async def forget(self, user_key: str) -> ForgetReport:
        """Erase the user's history and facts in one transaction; report what was erased.
        Waits for a turn of this user in another process, so it cannot land afterwards."""
        await self._ready()
        async with self._errors(), self._backend.write() as conn:
            # Cancellable while it waits: nothing is written yet.
            await self._backend.lock_user(conn, user_key)
            report = await finish(_erase(conn, user_key))
        await self._backend.erase()
        return report

    async def erase_complete(self) -> None:
        """Wait until every forget has been erased from the file (SQLite checkpoint retries)."""
        await self._backend.erase_complete()


async def _erase(conn: AsyncConnection, user_key: str) -> ForgetReport:
    facts = dict(
        (
            await conn.execute(
                select(user_facts.c.fact, user_facts.c.value).where(
                    user_facts.c.user_key == user_key
                )
            )
        ).all()
    )
    deleted = await conn.execute(delete(agent_messages).where(_messages.session_id == user_key))
    await conn.execute(delete(agent_sessions).where(agent_sessions.c.session_id == user_key))
    await conn.execute(delete(user_facts).where(user_facts.c.user_key == user_key))
    await positions.forget(conn, user_key)
    await conn.commit()
    return ForgetReport(history_items=deleted.rowcount, facts=facts)


def _check_layout(conn: Connection, where: str) -> int:
    """Raise StoreError if a table we use exists with other columns (made by other software);
    return the schema version."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column.name for column in table.columns if column.name not in have]
        if missing:
            raise StoreError(
                f"{where} has a table {table.name} made by other software (no column "
                f"{', '.join(missing)}); point the bot at another database"
            )
    return migrations.applied_version(conn)
