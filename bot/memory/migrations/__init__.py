"""Versioned schema migrations: ordered steps, one small module each, run on open and by
`python -m bot migrate`.

Each applied step is a row of `memory_schema_versions`; a database is at the highest version
recorded there (0 when the table is missing: a file of the first release, or a new one).
Pending steps run in ONE transaction under a lock every process honours (PostgreSQL: an
advisory lock; SQLite: the file's write lock, taken by `BEGIN IMMEDIATE`), and the version is
read again once the lock is held, so processes starting at once apply each step exactly once.
Both back ends have transactional DDL, so a step that fails leaves the schema as it was.

Why not Alembic: the schema is a few additive tables next to the SDK's, and the steps must
adopt tables that the first release or the SDK itself created (create what is missing, keep
what exists). Alembic would bring its own dependency, configuration tree and version table
and its autogenerate would want to manage tables we must not alter; a version table with
ordered steps does all we need in a page of code. A new step is a new `mNNN_*.py` module
with `NAME` and `upgrade(conn)`, appended to `STEPS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import ModuleType

from sqlalchemy import Connection, Table, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...core.domain import utc_now
from ...core.store import StoreError
from ..schema import metadata, schema_versions
from . import (
    m001_history,
    m002_history_positions,
    m003_memory_items,
    m004_complete_forgetting,
    m005_search_index,
    m006_community,
    m007_turn_pages,
)

log = logging.getLogger(__name__)

STEPS: tuple[ModuleType, ...] = (
    m001_history,
    m002_history_positions,
    m003_memory_items,
    m004_complete_forgetting,
    m005_search_index,
    m006_community,
    m007_turn_pages,
)
LATEST = len(STEPS)

# The step that created each table, the step that dropped it, and the columns a later step
# added: a database at version N has exactly the tables and columns these say it has.
CREATED_IN = {
    "agent_sessions": 1,
    "agent_messages": 1,
    "user_facts": 1,
    "history_counts": 2,
    "history_marks": 2,
    "memory_items": 3,
    "memory_settings": 3,
    "memory_item_forms": 4,
    "memory_erase_jobs": 4,
    "search_users": 5,
    "search_docs": 5,
    "place_settings": 6,
    "usage_days": 6,
    "memory_schema_versions": 1,
}
DROPPED_IN = {"user_facts": 3}
COLUMNS_ADDED_IN = {
    ("memory_settings", "erase_generation"): 4,
    ("memory_settings", "hidden_through"): 4,
    ("history_counts", "turn_count"): 7,
}


def applied_version(conn: Connection) -> int:
    """The schema version of the database `conn` is connected to (0: none recorded)."""
    if not inspect(conn).has_table(schema_versions.name):
        return 0
    return conn.execute(select(func.max(schema_versions.c.version))).scalar() or 0


def _upgrade(conn: Connection) -> list[str]:
    version = applied_version(conn)
    if version > LATEST:
        raise StoreError(
            f"the memory database is at schema version {version}, newer than this bot "
            f"knows ({LATEST}); upgrade the bot, or point it at another database"
        )
    schema_versions.create(conn, checkfirst=True)
    applied = []
    for number, step in enumerate(STEPS[version:], start=version + 1):
        step.upgrade(conn)
        conn.execute(
            schema_versions.insert().values(version=number, name=step.NAME, applied_at=utc_now())
        )
        applied.append(f"{number} ({step.NAME})")
    return applied


async def migrate(
    conn: AsyncConnection, lock_schema: Callable[[AsyncConnection], Awaitable[None]]
) -> list[str]:
    """Apply every pending step on `conn`, which is in a write transaction that the caller
    commits; `lock_schema` takes the cross-process schema lock. Returns the steps applied."""
    await lock_schema(conn)
    applied = await conn.run_sync(_upgrade)
    if applied:
        log.info("memory schema upgraded: %s", ", ".join(applied))
    return applied


def check_layout(conn: Connection, where: str) -> int:
    """Raise StoreError if a table we use exists with other columns (made by other
    software), or if a table or column the database's schema version has is missing
    (dropped by hand, or by other software); return the schema version."""
    # The version first: a migration commits its tables with its version row, so tables read
    # after a version are never older than it (another process may be migrating right now).
    version = applied_version(conn)
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        name = table.name
        if name not in existing:
            required = CREATED_IN[name] <= version < DROPPED_IN.get(name, LATEST + 1)
            if required and name != schema_versions.name:
                raise StoreError(
                    f"{where} is missing the table {name} (the file is at schema version "
                    f"{version}, which has it; it was dropped outside the bot); restore the "
                    "file from a backup, or point the bot at another database"
                )
            continue
        have = {column["name"] for column in inspector.get_columns(name)}
        missing = [
            column.name
            for column in table.columns
            if column.name not in have and COLUMNS_ADDED_IN.get((name, column.name), 0) <= version
        ]
        if not missing:
            continue
        if version >= CREATED_IN[name] and have >= _original_columns(table):
            raise StoreError(
                f"{where} is missing the column {', '.join(missing)} of table {name} (the "
                f"file is at schema version {version}, which has it); restore the file from "
                "a backup, or point the bot at another database"
            )
        raise StoreError(
            f"{where} has a table {name} made by other software (no column "
            f"{', '.join(missing)}); point the bot at another database"
        )
    return version


def _original_columns(table: Table) -> set[str]:
    """The columns `table` had when its step created it."""
    return {c.name for c in table.columns if (table.name, c.name) not in COLUMNS_ADDED_IN}
