"""The SQLite file: WAL mode, BEGIN IMMEDIATE writes, and the erase step of forget."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.sql.expression import Executable

from ...core.store import StoreError, StoreFull
from .driver import driver_message

log = logging.getLogger(__name__)


# Why erased text is still in the file, as the person is told (the erase job retries).
DISK_FULL = "the disk holding it is full; it is cleaned as soon as there is space again"
WRITE_FAILED = "writing to it failed; it is retried until that works"


def _begin(conn: Any) -> None:
    # Only writes open a transaction; a read runs each statement on its own (in WAL mode
    # each sees a committed state), which saves a round trip to the driver's thread.
    begin = conn.get_execution_options().get("memory_begin")
    if begin:
        # Straight on the driver's connection: one round trip to its thread, where a
        # statement through a cursor takes three.
        conn.connection.dbapi_connection.run_async(lambda driver: driver.execute(begin))


@contextlib.asynccontextmanager
async def _unsynced(conn: AsyncConnection, background: bool) -> AsyncIterator[None]:
    """Erase work (`background`) commits without its own fsync: the next turn's commit or the
    checkpoint syncs it, and a batch lost to a power cut is redone from its job. A turn
    waiting behind a batch waits for the batch, not for a disk flush too."""
    if not background:
        yield
        return
    driver = (await conn.get_raw_connection()).driver_connection
    await driver.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        await driver.execute("PRAGMA synchronous = FULL")


async def _roll_back(conn: AsyncConnection) -> None:
    """End a write that failed. A COMMIT refused by a full disk leaves SQLite's transaction
    open, and neither SQLAlchemy (the transaction is over for it) nor the pool (no reset on
    check-in) rolls it back: the pooled connection would keep the file's write lock, and
    every later write, here or in another process, would wait for it."""
    try:
        driver = (await conn.get_raw_connection()).driver_connection
        if driver.in_transaction:
            await driver.rollback()
    except Exception:
        await conn.invalidate()  # not reusable: the pool drops it


# Erase work commits without its own fsync (see `_unsynced`); FULL again after it.
_UNSYNCED_DELETE = (
    "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; DELETE FROM {table} WHERE id IN ({ids}); "
    "COMMIT; PRAGMA synchronous = FULL;"
)


async def _run_script(conn: AsyncConnection, script: str) -> None:
    """A whole write transaction in one round trip to the driver's thread: the write lock is
    held for SQLite's work alone, never across a busy loop's turn between statements (as a
    transaction of several round trips is, while other people's turns run). A failure rolls
    back and raises the error SQLAlchemy would, so callers handle both paths alike."""
    driver = (await conn.get_raw_connection()).driver_connection
    try:
        await driver.executescript(script)
    except BaseException as exc:
        await _roll_back(conn)
        with contextlib.suppress(Exception):
            await driver.execute("PRAGMA synchronous = FULL")  # as every other write has it
        if isinstance(exc, sqlite3.Error):
            raise DBAPIError.instance(script, None, exc, sqlite3.Error) from exc
        raise


class SqliteBackend:
    """One SQLite file (WAL mode), created 0600 in a 0700 folder."""

    name = "sqlite"
    # Waits for another process's write lock; in-process writers queue on `_writer` instead.
    BUSY_TIMEOUT_MS = 10_000
    # A forget's checkpoint waits this long for readers, then is retried by the erase job.
    CHECKPOINT_WAIT_MS = 200

    def __init__(self, path: Path, *, pool_size: int = 3, max_overflow: int = 3) -> None:
        self.path = Path(path)
        # Each connection is a thread and ~3 descriptors; a few cover reads beside a write.
        self.engine = create_async_engine(
            f"sqlite+aiosqlite:///{self.path}",
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No reset round trip on every check-in: reads open no transaction (see
            # `_configure`), and closing a connection already rolls back an unfinished write.
            pool_reset_on_return=None,
        )
        event.listen(self.engine.sync_engine, "connect", self._configure)
        event.listen(self.engine.sync_engine, "begin", _begin)
        # One writer at a time in this process, so writers queue here instead of sleeping in
        # SQLite's busy handler (which polls with growing sleeps).
        self._writer = asyncio.Lock()
        # Foreground writers (turns, commands) waiting for `_writer`: background erase work
        # waits until there are none, so it never holds up a turn by more than one batch.
        self._waiting_writers = 0
        self._no_writer_waiting = asyncio.Event()
        self._no_writer_waiting.set()
        # Compiled once each: the store's few module-level hot-path statements (see `run`).
        self._compiled: dict[Executable, Compiled] = {}
        self._identity: tuple[int, int] | None = None  # (device, inode) of the opened file

    def describe(self) -> str:
        return str(self.path)

    def insert(self, table: Any) -> Any:
        return sqlite.insert(table)

    def prepare(self) -> None:
        """Create the folder and file with owner-only permissions before SQLite opens it."""
        path = self.path
        if path.is_dir():
            raise StoreError(
                f"the memory file {path} is a folder; give a file path such as {path}/memory.db"
            )
        try:
            if path.parent != Path(""):
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            opened = path.stat()
        except OSError as exc:
            raise StoreError(
                f"cannot create the memory file {path}: {exc.strerror or 'not allowed'}; "
                "choose a writable place with --db or MEMORY_DB_PATH"
            ) from exc
        self._identity = (opened.st_dev, opened.st_ino)

    def check(self) -> None:
        """The file at the path is still the one opened (see `same_file`)."""
        same_file(self.path, self._identity)

    @staticmethod
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by `_begin` (SQLAlchemy's documented recipe), so a
        # write can take the file's write lock up front with BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SqliteBackend.BUSY_TIMEOUT_MS}")
            # Deleted and overwritten content is zeroed, not left readable in free space.
            cursor.execute("PRAGMA secure_delete = ON")
            # Switching a new file to WAL needs a moment of exclusive access, which SQLite
            # does not wait for: another process opening the same new file retries.
            deadline = time.monotonic() + SqliteBackend.BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                    break
                except Exception as exc:
                    if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                        raise
                    # An event handler runs on the loop; wait without blocking it.
                    dbapi_connection.run_async(lambda _driver: asyncio.sleep(0.01))
        finally:
            cursor.close()

    async def run(
        self,
        conn: AsyncConnection,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> list[Any]:
        """Run one of the store's hot-path statements (a module-level Core statement with
        bound parameters of plain str/int values) in a single round trip to the driver's
        thread; SQLAlchemy's aiosqlite adapter takes three or four (cursor, execute, fetch,
        close), each ~0.1 ms on a busy machine. A sequence of parameter sets runs as one
        executemany. Rows come back as plain tuples, without type conversion."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = statement.compile(dialect=conn.dialect)
        names = compiled.positiontup or []
        driver = (await conn.get_raw_connection()).driver_connection
        try:
            if isinstance(params, Mapping):
                bound = compiled.construct_params(params)
                args = [bound[n] for n in names]
                return list(await driver.execute_fetchall(compiled.string, args))
            rows = []
            for one in params:
                bound = compiled.construct_params(one)
                rows.append([bound[n] for n in names])
            await driver.executemany(compiled.string, rows)
            return []
        except sqlite3.Error as exc:
            # The same error SQLAlchemy raises for it, so callers handle both paths alike.
            raise DBAPIError.instance(
                compiled.string, None, exc, sqlite3.Error, dialect=conn.dialect
            ) from exc

    @contextlib.asynccontextmanager
    async def write(self, *, background: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction holding the file's write lock from its first statement (a
        deferred one could fail with SQLITE_BUSY when it turns from reading to writing).
        A `background` one (erase work) first lets every waiting foreground writer go."""
        if background:
            await self._no_writer_waiting.wait()
        else:
            self._waiting_writers += 1
            self._no_writer_waiting.clear()
        try:
            await self._writer.acquire()
        finally:
            if not background:
                self._waiting_writers -= 1
                if self._waiting_writers == 0:
                    self._no_writer_waiting.set()
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(memory_begin="BEGIN IMMEDIATE")
                async with _unsynced(conn, background):
                    try:
                        async with conn.begin():
                            yield conn
                    except BaseException:
                        await _roll_back(conn)
                        raise
        finally:
            self._writer.release()

    async def delete_rows(self, table: Table, ids: Sequence[int]) -> None:
        """Erase work: these rows go in one short write (`_run_script`), after waiting writers."""
        listed = ",".join(str(int(row_id)) for row_id in ids)  # integers only: safe to inline
        await self._no_writer_waiting.wait()
        async with self._writer, self.engine.connect() as conn:
            await _run_script(conn, _UNSYNCED_DELETE.format(table=table.name, ids=listed))

    async def lock_schema(self, conn: AsyncConnection) -> None:
        """BEGIN IMMEDIATE already holds the file's write lock."""

    async def lock_user(self, conn: AsyncConnection, user_key: str) -> None:
        """BEGIN IMMEDIATE already holds the file's write lock."""

    @contextlib.asynccontextmanager
    async def turn_lock(self, user_key: str) -> AsyncIterator[None]:
        """One SQLite file serves one process: the chat service's lock is all a turn needs."""
        yield

    # --- erase ----------------------------------------------------------------------------

    async def checkpoint(self) -> str | None:
        """After an erase commits: write the zeroed pages over the file and empty the WAL,
        which still holds the pages as they were. None once done; otherwise why not yet (a
        reader with an older snapshot, a full disk), for the erase job to retry."""
        try:
            busy, wal_frames, copied = await self._wal_checkpoint()
        except Exception as exc:
            # The driver's own connection raises the driver's error, not SQLAlchemy's.
            if "disk is full" in (driver_message(exc) or str(exc)).lower():
                return DISK_FULL
            log.warning("checkpoint of %s failed", self.path, exc_info=True)
            return WRITE_FAILED
        if busy or wal_frames != copied:
            return "another program is reading it; it is cleaned as soon as that program stops"
        return None

    async def _wal_checkpoint(self) -> tuple[int, int, int]:
        # First copy the WAL into the file without holding off writers (PASSIVE takes no
        # write lock and waits for nobody), so that the TRUNCATE below, during which this
        # process's writers wait, has only what was committed meanwhile left to copy.
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            cursor = await driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
            await cursor.close()
        async with self.engine.connect() as conn:
            # Outside any transaction (a checkpoint cannot run in one), with a short busy
            # wait (a blocked one holds off writers); our writers wait for one round trip.
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.execute(f"PRAGMA busy_timeout = {self.CHECKPOINT_WAIT_MS}")
            try:
                async with self._writer:
                    rows = await driver.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, wal_frames, copied = rows[0]
            finally:
                await driver.execute(f"PRAGMA busy_timeout = {self.BUSY_TIMEOUT_MS}")
        return busy, wal_frames, copied

    async def aclose(self) -> None:
        await self.engine.dispose()

    # --- errors ---------------------------------------------------------------------------

    def translate(self, exc: BaseException, *, opening: bool = False) -> StoreError | None:
        """The operator's one line for a driver error; None when it is not one we know,
        unless `opening` (then every error is one line: the file cannot be used)."""
        message = driver_message(exc)
        path = self.path
        if "database or disk is full" in message:
            return StoreFull(
                f"the memory file {path} is full (no space left on its disk); "
                "free some space, then try again"
            )
        if "file is not a database" in message or "malformed" in message:
            return StoreError(
                f"{path} is not a usable memory file (not SQLite, or damaged); move it away "
                "or choose another file with --db or MEMORY_DB_PATH"
            )
        if "readonly" in message or "read-only" in message:
            if path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
                # The file may be writable: SQLite also writes its journal files beside it.
                return StoreError(
                    f"the folder {path.parent} of the memory file is not writable (SQLite "
                    f"keeps its journal files beside {path.name}); make it writable, or "
                    "choose another place with --db or MEMORY_DB_PATH"
                )
            return StoreError(f"the memory file {path} is read-only; make it writable")
        if "unable to open database" in message or "disk i/o error" in message:
            return StoreError(
                f"cannot open the memory file {path}; check that it and its folder are "
                "readable and writable"
            )
        if opening:
            return StoreError(
                f"cannot use the memory file {path} ({type(exc).__name__}); choose another "
                "file with --db or MEMORY_DB_PATH"
            )
        return None


def same_file(path: Path, identity: tuple[int, int] | None) -> None:
    """Raise StoreError when the file at `path` is gone or is not the one whose (device,
    inode) is `identity`: a file removed or replaced while the bot runs leaves it writing to
    one nobody will read again."""
    try:
        found = path.stat()
    except OSError as exc:
        raise StoreError(
            f"the memory file {path} is gone ({exc.strerror or 'cannot be read'}); "
            "what is stored from now on is lost at the next start: restore the file, "
            "then restart the bot"
        ) from None
    if identity is not None and (found.st_dev, found.st_ino) != identity:
        raise StoreError(
            f"the memory file {path} was replaced by another file while the bot runs; "
            "restart the bot to use the new one"
        )
