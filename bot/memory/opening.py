"""Opening memory at start-up: any failure becomes one `StoreError` line for the operator.

The store raises `StoreError` itself for the problems it knows; this module also covers raw
SQLite, OS and driver errors from opening it or from its first use, so a folder given as
`--db`, a corrupt file or an unreachable database server is one line naming what is wrong and
how to fix it, never a traceback (that goes to the log at debug level).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..settings import SettingsError
from . import MemoryStore, StoreError, open_store

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)


def memory_problem(exc: BaseException, settings: Settings) -> StoreError:
    """The one-line `StoreError` for a failure opening or first using the store."""
    if isinstance(exc, StoreError):
        return exc
    if settings.database_url:
        # Never the URL itself: it holds the password.
        return StoreError(
            f"cannot use the PostgreSQL database in DATABASE_URL ({type(exc).__name__}); check "
            "that the server is running and reachable and that the URL's host, port, user "
            "and password are right"
        )
    path = settings.memory_db_path
    fix = "choose another file with --db or MEMORY_DB_PATH"
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return StoreError(f"the memory file {path} is a folder; {fix}")
    if isinstance(exc, PermissionError):
        return StoreError(
            f"cannot write the memory file {path} (permission denied); make it and its folder "
            f"writable by this user, or {fix}"
        )
    text = str(exc).lower()
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return StoreError(
            f"{path} is not a usable SQLite memory file (corrupt, or another kind of file); "
            f"move it aside, or {fix}"
        )
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
        return StoreError(f"cannot open the memory file {path}; check its folder, or {fix}")
    if isinstance(exc, sqlite3.Error):
        return StoreError(
            f"{path} has tables this bot cannot use (they clash with its own: "
            f"{type(exc).__name__}); {fix}, or move this one aside"
        )
    if isinstance(exc, OSError):
        return StoreError(f"cannot use the memory file {path} ({exc.strerror}); {fix}")
    return StoreError(f"cannot use the memory file {path} ({type(exc).__name__}); {fix}")


def open_memory(settings: Settings) -> MemoryStore:
    """`open_store`, with any failure turned into a one-line `StoreError`."""
    try:
        return open_store(settings)
    except SettingsError:
        raise
    except Exception as exc:
        log.debug("opening memory failed", exc_info=True)
        raise memory_problem(exc, settings) from exc


async def check_memory(store: MemoryStore, settings: Settings) -> None:
    """Open the store now (it checks its tables and migrates), so tables that clash with ours
    or a database that cannot be reached stop the start with one line instead of failing
    every turn later."""
    try:
        await store.open()
    except Exception as exc:
        log.debug("first use of memory failed", exc_info=True)
        raise memory_problem(exc, settings) from exc


@contextlib.asynccontextmanager
async def opened_memory(settings: Settings) -> AsyncIterator[MemoryStore]:
    """The store, opened (tables checked, schema migrated) and closed on exit; any failure on
    the way in is a one-line `StoreError`."""
    async with contextlib.AsyncExitStack() as stack:
        store = open_memory(settings)
        try:
            store = await stack.enter_async_context(store)
        except Exception as exc:
            log.debug("opening memory failed", exc_info=True)
            with contextlib.suppress(Exception):
                await store.aclose()
            raise memory_problem(exc, settings) from exc
        yield store
