"""Per-user memory on PostgreSQL, shared by several bot processes (shards).

The same operations and behaviour as `bot.memory.MemoryStore`, on a database every process
sees. History lives in the SDK's own tables, read through `SQLAlchemySession` and written with
its table objects and serialisation; facts live in a table beside them. The whole process uses
one `AsyncEngine` with one bounded pool, never one per user.

What a shared database adds over one SQLite file:
- `turn_lock` takes a PostgreSQL advisory lock per user for the whole turn, so two processes
  answering the same person store u,a,u,a in order (each turn sees the previous one).
- `migrate` creates the schema under an advisory lock, so processes may start at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from agents import TResponseInputItem
from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
from sqlalchemy import Column, DateTime, MetaData, Table, Text, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .items import ForgetReport, HistoryPage, newest_turns

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Advisory lock keys. User locks use the one-bigint key space (a hash of the user key); the
# schema lock uses the two-int key space, which PostgreSQL keeps apart from the bigint one.
_SCHEMA_LOCK = (0x6D656D6F, 1)  # "memo", 1
# An unlock is instant; one that takes longer means a dead link, and closing the connection
# releases the lock on the server instead.
UNLOCK_TIMEOUT_S = 10.0

_facts_metadata = MetaData()
FACTS = Table(
    "user_facts",
    _facts_metadata,
    Column("user_key", Text, primary_key=True),
    Column("fact", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The (store, user) turn locks the current task holds, so `forget` called within that turn
# does not wait for its own lock from a second connection (which would never be granted).
_held_turn_locks: contextvars.ContextVar[frozenset[tuple[int, str]]] = contextvars.ContextVar(
    "held_turn_locks", default=frozenset()
)


def is_postgres_url(url: str) -> bool:
    """True for a PostgreSQL database URL (`postgresql+asyncpg://…`, `postgresql://…`,
    `postgres://…`); False for anything else, such as a file path."""
    scheme, sep, _ = url.strip().partition("://")
    return bool(sep) and scheme.lower().split("+", 1)[0] in {"postgresql", "postgres"}


def async_url(url: str) -> URL:
    """The SQLAlchemy URL for `url`, with the asyncpg driver when none is named."""
    if not is_postgres_url(url):
        raise ValueError("expected a PostgreSQL URL such as postgresql+asyncpg://user@host/db")
    scheme, _, rest = url.strip().partition("://")
    if "+" not in scheme:
        return make_url(f"postgresql+asyncpg://{rest}")
    return make_url(url.strip())


async def _finish(operation: Awaitable[_T]) -> _T:
    """Run `operation` to the end even if the caller is cancelled, then re-raise the
    cancellation: a write or unlock must not be cut off halfway."""
    task = asyncio.ensure_future(operation)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
    if cancelled is not None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("operation failed while cancelled", exc_info=task.exception())
        raise cancelled
    return task.result()


def _user_lock_key(user_key: str) -> Any:
    return func.hashtextextended(user_key, 0)


class PostgresMemoryStore:
    """Every user's history and facts in one PostgreSQL database, shared by processes."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 5,
        pool_timeout: float = 30.0,
        turn_lock_slots: int | None = None,
        application_name: str = "memory-chat-bot",
    ) -> None:
        """Args:
        url: A PostgreSQL URL; `postgresql://` and `postgres://` get the asyncpg driver.
        pool_size: Connections the pool keeps open.
        max_overflow: Extra connections opened under load and closed after.
        pool_timeout: Seconds to wait for a free connection before failing.
        turn_lock_slots: Turns that may hold (or wait for) a user lock at once. Each holds a
            pooled connection for the whole turn, so this must leave connections for the
            turn's own reads and commit; default: half the pool, at least 1.
        application_name: Shown in `pg_stat_activity`, to tell the bot's connections apart.
        """
        capacity = pool_size + max_overflow
        slots = turn_lock_slots if turn_lock_slots is not None else max(1, capacity // 2)
        if pool_size < 1 or max_overflow < 0:
            raise ValueError("pool_size must be at least 1 and max_overflow at least 0")
        if not 1 <= slots < capacity:
            # A lock holder needs a second connection to commit; with every connection
            # holding a lock, all turns would wait for the pool forever.
            raise ValueError(
                f"turn_lock_slots must be between 1 and {capacity - 1} "
                f"(pool_size + max_overflow - 1), got {slots}"
            )
        self.url = async_url(url)
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self._engine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            # Every process writes the SDK's `created_at` (timestamp without time zone,
            # which orders history) in one zone, whatever the server or client default.
            connect_args={
                "server_settings": {"application_name": application_name, "timezone": "UTC"}
            },
        )
        # One SDK session supplies the table objects (and their metadata) the SDK reads from;
        # they are the same for every user, so writes use exactly the SDK's schema.
        self._sdk = SQLAlchemySession("schema", engine=self._engine)
        self._sessions_table: Table = self._sdk._sessions
        self._messages_table: Table = self._sdk._messages
        self._lock_slots = asyncio.Semaphore(slots)
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        self._closed = False
        log.info(
            "PostgreSQL memory at %s (pool %d + %d overflow, %d turn locks)",
            self.url.render_as_string(hide_password=True),
            pool_size,
            max_overflow,
            slots,
        )

    @property
    def engine(self) -> AsyncEngine:
        """The process-wide engine (and pool) every session and query of this store uses."""
        return self._engine

    async def aclose(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            await self._engine.dispose()

    async def __aenter__(self) -> PostgresMemoryStore:
        await self._ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- schema ---------------------------------------------------------------------------

    async def migrate(self) -> None:
        """Create the SDK's tables and the facts table if missing. Idempotent, and safe when
        several processes run it at once: they take turns on an advisory lock, because
        concurrent `CREATE TABLE IF NOT EXISTS` can still fail on PostgreSQL's catalogs."""
        async with self._engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(*_SCHEMA_LOCK)))
            await conn.run_sync(self._sdk._metadata.create_all)
            await conn.run_sync(_facts_metadata.create_all)
        self._schema_ready = True

    async def _ready(self) -> None:
        if self._closed:
            raise RuntimeError("PostgresMemoryStore is closed")
        if self._schema_ready:
            return
        async with self._schema_lock:
            if not self._schema_ready:
                await self.migrate()

    # --- sessions -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def turn_lock(self, user_key: str) -> AsyncIterator[None]:
        """Held around a whole turn: an advisory lock on the user that every process sees.

        The lock lives on a pooled connection of its own (in autocommit, so no transaction
        stays open during the model run). It is always released: on exit, on error and on
        cancellation; if the unlock itself fails, the connection is closed, which makes the
        server drop the lock.
        """
        await self._ready()
        async with self._lock_slots:
            conn = await self._engine.connect()
            token = _held_turn_locks.set(_held_turn_locks.get() | {(id(self), user_key)})
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(select(func.pg_advisory_lock(_user_lock_key(user_key))))
                yield
            finally:
                _held_turn_locks.reset(token)
                await _finish(self._release_lock_connection(conn))

    @staticmethod
    async def _release_lock_connection(conn: AsyncConnection) -> None:
        try:
            # The connection holds only this turn's lock; "all" also covers a lock granted
            # just as the wait for it was cancelled.
            async with asyncio.timeout(UNLOCK_TIMEOUT_S):
                await conn.execute(select(func.pg_advisory_unlock_all()))
        except Exception:
            log.warning("could not release a turn lock; closing its connection", exc_info=True)
            with contextlib.suppress(Exception):
                await conn.invalidate()
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    @contextlib.asynccontextmanager
    async def session(self, user_key: str) -> AsyncIterator[SQLAlchemySession]:
        """The SDK session for one user, on the shared engine (it owns no connections)."""
        await self._ready()
        yield SQLAlchemySession(user_key, engine=self._engine)

    async def recent_items(self, user_key: str, user_turns: int) -> list[TResponseInputItem]:
        """The newest `user_turns` turns of history, each whole, starting at a user message."""
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
        await self._ready()
        async with self.session(user_key) as session:
            # The SDK's own serialisation, so rows are exactly what `add_items` writes.
            payload = [
                {"session_id": user_key, "message_data": await session._serialize_item(item)}
                for item in items
            ]
        now = datetime.now(UTC)
        fact_rows = [
            {"user_key": user_key, "fact": fact, "value": value, "updated_at": now}
            for fact, value in facts.items()
        ]

        async def write() -> None:
            async with self._engine.begin() as conn:
                if payload:
                    # As `add_items`: the session row (created, or its updated_at touched),
                    # then the items in order. `created_at` is the transaction's start, after
                    # the previous turn's commit because the turn lock is held.
                    sessions = self._sessions_table
                    await conn.execute(
                        pg_insert(sessions)
                        .values(session_id=user_key)
                        .on_conflict_do_update(
                            index_elements=[sessions.c.session_id],
                            set_={"updated_at": text("CURRENT_TIMESTAMP")},
                        )
                    )
                    await conn.execute(insert(self._messages_table), payload)
                if fact_rows:
                    upsert = pg_insert(FACTS)
                    await conn.execute(
                        upsert.on_conflict_do_update(
                            index_elements=[FACTS.c.user_key, FACTS.c.fact],
                            set_={
                                "value": upsert.excluded.value,
                                "updated_at": upsert.excluded.updated_at,
                            },
                        ),
                        fact_rows,
                    )

        await _finish(write())

    # --- reads ----------------------------------------------------------------------------

    async def facts(self, user_key: str) -> dict[str, str]:
        """The user's stored facts, e.g. {"name": "Ada", "city": "Lisbon"}."""
        await self._ready()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(FACTS.c.fact, FACTS.c.value)
                .where(FACTS.c.user_key == user_key)
                .order_by(FACTS.c.fact)
            )
            return {fact: value for fact, value in rows.all()}

    async def history_page(self, user_key: str, page: int, per_page: int) -> HistoryPage:
        """Page `page` (1 = newest) of the user's stored items, oldest first within it."""
        if page < 1 or per_page < 1:
            raise ValueError("page and per_page start at 1")
        await self._ready()
        messages = self._messages_table
        mine = messages.c.session_id == user_key
        async with self.session(user_key) as session, self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).where(mine))).scalar_one()
            rows = await conn.execute(
                select(messages.c.message_data)
                .where(mine)
                # The SDK's own order (see `SQLAlchemySession.get_items`).
                .order_by(messages.c.created_at.desc(), messages.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
            items = [await session._deserialize_item(data) for (data,) in reversed(rows.all())]
        pages = max(1, -(-total // per_page))
        return HistoryPage(items=items, page=page, pages=pages, total=total)

    async def all_items(self, user_key: str) -> list[TResponseInputItem]:
        """Every stored item of the user, oldest first."""
        async with self.session(user_key) as session:
            return await session.get_items()

    async def export(self, user_key: str) -> dict[str, Any]:
        """Everything stored about the user, as a JSON-serialisable dict (same shape as the
        SQLite store's)."""
        await self._ready()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(FACTS.c.fact, FACTS.c.value, FACTS.c.updated_at)
                .where(FACTS.c.user_key == user_key)
                .order_by(FACTS.c.fact)
            )
            fact_rows = rows.all()
        return {
            "user": user_key,
            "exported_at": _iso(datetime.now(UTC)),
            "facts": {fact: {"value": v, "updated_at": _iso(at)} for fact, v, at in fact_rows},
            "history": await self.all_items(user_key),
        }

    # --- erase ----------------------------------------------------------------------------

    async def forget(self, user_key: str) -> ForgetReport:
        """Erase the user's history and facts in one transaction; report what was erased.

        Waits for a turn of this user running in another process (its turn lock), so that
        turn cannot land after the erase.
        """
        await self._ready()
        async with self._engine.connect() as conn:
            await conn.begin()
            if (id(self), user_key) not in _held_turn_locks.get():
                # Cancellable: nothing is written yet, and closing the connection rolls back.
                await conn.execute(select(func.pg_advisory_xact_lock(_user_lock_key(user_key))))
            return await _finish(self._erase(conn, user_key))

    async def _erase(self, conn: AsyncConnection, user_key: str) -> ForgetReport:
        messages, sessions = self._messages_table, self._sessions_table
        rows = await conn.execute(
            select(FACTS.c.fact, FACTS.c.value).where(FACTS.c.user_key == user_key)
        )
        facts = {fact: value for fact, value in rows.all()}
        deleted = await conn.execute(delete(messages).where(messages.c.session_id == user_key))
        await conn.execute(delete(sessions).where(sessions.c.session_id == user_key))
        await conn.execute(delete(FACTS).where(FACTS.c.user_key == user_key))
        await conn.commit()
        return ForgetReport(history_items=deleted.rowcount, facts=facts)


def _iso(moment: datetime) -> str:
    # The SQLite store's format: UTC, whole seconds, "+00:00".
    return moment.astimezone(UTC).isoformat(timespec="seconds")
