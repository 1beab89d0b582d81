"""PostgreSQL shared by every bot process: advisory locks per user and for the schema."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.sql.expression import Executable

from ...core.store import StoreError, StoreFull
from ..shield import finish
from .driver import driver_message

log = logging.getLogger(__name__)


# Advisory lock keys. User locks use the one-bigint key space (a hash of the user key); the
# schema lock uses the two-int key space, which PostgreSQL keeps apart from the bigint one.
_SCHEMA_LOCK = (0x6D656D6F, 1)  # "memo", 1
# An unlock is instant; one that takes longer means a dead link, and closing the connection
# releases the lock on the server instead.
UNLOCK_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0

# The (backend, user) turn locks the current task holds, so a forget or a write within that
# turn does not wait for its own lock from a second connection (it would never be granted).
_held_turn_locks: contextvars.ContextVar[frozenset[tuple[int, str]]] = contextvars.ContextVar(
    "held_turn_locks", default=frozenset()
)


def is_postgres_url(url: str) -> bool:
    """True for a PostgreSQL database URL (`postgresql+asyncpg://…`, `postgresql://…`,
    `postgres://…`); False for anything else, such as a file path."""
    scheme, sep, _ = url.strip().partition("://")
    return bool(sep) and scheme.lower().split("+", 1)[0] in {"postgresql", "postgres"}


def async_url(url: str) -> URL:
    """The SQLAlchemy URL for `url`, with the asyncpg driver."""
    if not is_postgres_url(url):
        raise ValueError("expected a PostgreSQL URL such as postgresql+asyncpg://user@host/db")
    _, _, rest = url.strip().partition("://")
    return make_url(f"postgresql+asyncpg://{rest}")


def _user_lock_key(user_key: str) -> Any:
    return func.hashtextextended(user_key, 0)


class PostgresBackend:
    """A PostgreSQL database shared by every bot process; one pool per process."""

    name = "postgresql"

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
        self.engine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            # Every process writes the SDK's `created_at` (timestamp without time zone, which
            # orders the SDK's reads) in one zone, whatever the server or client default.
            connect_args={
                "server_settings": {"application_name": application_name, "timezone": "UTC"},
                "timeout": CONNECT_TIMEOUT_S,
            },
        )
        self._lock_slots = asyncio.Semaphore(slots)
        log.info(
            "PostgreSQL memory at %s (pool %d + %d overflow, %d turn locks)",
            self.url.render_as_string(hide_password=True),
            pool_size,
            max_overflow,
            slots,
        )

    def describe(self) -> str:
        return f"PostgreSQL at {self.url.host or 'localhost'}:{self.url.port or 5432}"

    def insert(self, table: Any) -> Any:
        return postgresql.insert(table)

    def prepare(self) -> None:
        """Nothing to create before connecting."""

    def check(self) -> None:
        """Nothing to check without a query: the server answers for itself."""

    async def run(
        self,
        conn: AsyncConnection,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> list[Any]:
        """Run one of the store's hot-path statements (see `SqliteBackend.run`); asyncpg
        needs no shortcut, so this is SQLAlchemy's own execute."""
        result = await conn.execute(
            statement, dict(params) if isinstance(params, Mapping) else list(params)
        )
        return [tuple(row) for row in result.all()] if result.returns_rows else []

    @contextlib.asynccontextmanager
    async def write(self, *, background: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction (PostgreSQL runs writers side by side: `background` changes
        nothing)."""
        async with self.engine.begin() as conn:
            yield conn

    async def delete_rows(self, table: Table, ids: Sequence[int]) -> None:
        """Erase work: delete these rows of `table` (by `id`) in one short write."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id.in_(list(ids))))

    async def lock_schema(self, conn: AsyncConnection) -> None:
        # Concurrent `CREATE TABLE IF NOT EXISTS` can still fail on PostgreSQL's catalogs.
        await conn.execute(select(func.pg_advisory_xact_lock(*_SCHEMA_LOCK)))

    async def lock_user(self, conn: AsyncConnection, user_key: str) -> None:
        """Wait, within this transaction, for a turn of this user in another process."""
        if (id(self), user_key) not in _held_turn_locks.get():
            await conn.execute(select(func.pg_advisory_xact_lock(_user_lock_key(user_key))))

    @contextlib.asynccontextmanager
    async def turn_lock(self, user_key: str) -> AsyncIterator[None]:
        """An advisory lock on the user that every process sees, held for the whole turn on
        a pooled connection of its own (in autocommit: no transaction stays open during the
        model run). Always released: on exit, error and cancellation; if the unlock itself
        fails the connection is closed, which makes the server drop the lock."""
        async with self._lock_slots:
            conn = await self.engine.connect()
            token = _held_turn_locks.set(_held_turn_locks.get() | {(id(self), user_key)})
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(select(func.pg_advisory_lock(_user_lock_key(user_key))))
                yield
            finally:
                _held_turn_locks.reset(token)
                await finish(self._release_lock_connection(conn))

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

    async def checkpoint(self) -> str | None:
        """Deleted rows are gone for every reader once their transaction commits: nothing is
        owed to the files."""
        return None

    async def aclose(self) -> None:
        await self.engine.dispose()

    def translate(self, exc: BaseException, *, opening: bool = False) -> StoreError | None:
        """The operator's one line for a driver error; None when it is not one we know,
        unless `opening` (then every error is one line: the database cannot be used)."""
        where = self.describe()
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        state = getattr(orig, "sqlstate", None) or ""
        if state == "53100" or "could not extend file" in driver_message(exc):
            return StoreFull(f"the PostgreSQL database at {where} is out of disk space")
        if state in {"28P01", "28000"}:
            return StoreError(
                f"{where} refused the login of user {self.url.username!r}; check the user "
                "and password in DATABASE_URL"
            )
        if state == "3D000":
            return StoreError(
                f"database {self.url.database!r} does not exist on {where}; create it or fix "
                "DATABASE_URL"
            )
        if state in {"55000", "57P01", "57P02", "57P03"} and "connection" in driver_message(exc):
            # Shut down, restarting, or the database closed to connections by its admin.
            return StoreError(
                f"{where} is not accepting connections to database {self.url.database!r}; "
                "check the server"
            )
        if isinstance(orig, OSError | TimeoutError) or state.startswith("08"):
            # Connecting failed: the driver's error arrives as it is, or wrapped.
            reason = getattr(orig, "strerror", None) or type(orig).__name__
            return StoreError(
                f"cannot reach {where} ({reason}); check DATABASE_URL and that the server "
                "is running"
            )
        if opening:
            return StoreError(
                f"cannot use the PostgreSQL database in DATABASE_URL at {where} "
                f"({type(orig).__name__}); check the URL's user, password and database"
            )
        return None
