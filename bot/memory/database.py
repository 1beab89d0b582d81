"""One database, opened once and closed once: the back end the target selects, the file created
and the tables checked and migrated on first use, and every connection's driver errors worded
by the back end (`Backend.translate`, the one place that words them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..core.store import StoreError
from . import migrations
from .backends import Backend, PostgresBackend, SqliteBackend, is_postgres_url

log = logging.getLogger(__name__)


class Database:
    """A SQLite file (a path) or a PostgreSQL database (a `postgresql+asyncpg://…` URL; keyword
    options size its pool, see `PostgresBackend`), with the process's one engine and pool."""

    def __init__(self, target: str | Path, **options: Any) -> None:
        self.backend: Backend = (
            PostgresBackend(target, **options)
            if isinstance(target, str) and is_postgres_url(target)
            else SqliteBackend(Path(target), **options)
        )
        self._opened = False
        self._closed = False
        self._open_lock = asyncio.Lock()
        # Called once the database is open (the store resumes owed erase work there).
        self.on_open: Callable[[], None] = lambda: None

    @property
    def engine(self) -> AsyncEngine:
        return self.backend.engine

    @property
    def dialect(self) -> str:
        return self.backend.name

    def describe(self) -> str:
        return self.backend.describe()

    async def open(self) -> None:
        """Create the file (SQLite), check the tables are ours, and migrate. Raises
        StoreError with one line when the database cannot be used."""
        if self._closed:
            raise RuntimeError("the memory store is closed")
        async with self._open_lock:
            if self._opened:
                return
            try:
                self.backend.prepare()
                await self.migrate()
            except BaseException:
                await self.backend.engine.dispose()
                raise
            self._opened = True
        self.on_open()

    async def migrate(self) -> None:
        """Check that existing tables are ours, then apply pending migration steps; safe from
        several processes at once."""
        where = self.describe()
        async with self.errors(opening=True), self.engine.connect() as conn:
            version = await conn.run_sync(migrations.check_layout, where)
        if version != migrations.LATEST:
            async with self.errors(opening=True), self.backend.write() as conn:
                await migrations.migrate(conn, self.backend.lock_schema)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.backend.aclose()

    async def ready(self) -> None:
        """Open on first use; refuse once closed."""
        if self._closed:
            raise RuntimeError("the memory store is closed")
        if not self._opened:
            await self.open()

    @contextlib.asynccontextmanager
    async def errors(self, *, opening: bool = False) -> AsyncIterator[None]:
        """Driver errors become StoreError/StoreFull with the back end's one line; while
        opening every driver error does, afterwards only the ones the back end recognises."""
        try:
            yield
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            translated = self.backend.translate(exc, opening=opening)
            if translated is None:
                raise
            if opening:
                log.debug("opening %s failed", self.describe(), exc_info=True)
            raise translated from exc

    async def delete_rows(self, table: Table, ids: Sequence[int]) -> None:
        """Erase work: delete these rows (by id) in one short write that lets every waiting
        foreground writer go first."""
        await self.ready()
        async with self.errors():
            await self.backend.delete_rows(table, ids)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (each statement sees a committed state)."""
        await self.ready()
        async with self.errors(), self.engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def writing(
        self, lock_user: str | None = None, *, background: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends; with `lock_user`, it first
        waits for a turn of that user in another process (PostgreSQL; cancellable while it
        waits: nothing is written yet). `background` work yields to waiting writers."""
        await self.ready()
        async with self.errors(), self.backend.write(background=background) as conn:
            if lock_user is not None:
                await self.backend.lock_user(conn, lock_user)
            yield conn
