"""Memory: where each person's history and facts are stored, and how a turn reaches them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import StoreError, StoreFull
from .items import FACT_NAMES, ForgetReport, HistoryPage, is_user_message, message_text
from .session import TurnSession
from .sqlite_store import MemoryStore

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "FACT_NAMES",
    "ForgetReport",
    "HistoryPage",
    "MemoryStore",
    "StoreError",
    "StoreFull",
    "TurnSession",
    "describe_memory",
    "is_user_message",
    "message_text",
    "open_store",
]


def describe_memory(settings: Settings) -> str:
    """Where memory lives, for the log (never the database URL: it holds a password)."""
    return "PostgreSQL (DATABASE_URL)" if settings.database_url else str(settings.memory_db_path)


def open_store(settings: Settings) -> MemoryStore:
    """The store the settings select: PostgreSQL for a DATABASE_URL, else the SQLite file."""
    if settings.database_url:
        # Imported only when asked for: it needs the postgres extra (SQLAlchemy, asyncpg).
        try:
            from .pg_store import PostgresMemoryStore
        except ImportError:
            from ..settings import SettingsError

            raise SettingsError(
                "DATABASE_URL needs the postgres extra: .venv/bin/pip install -e '.[postgres]'"
            ) from None
        return PostgresMemoryStore(settings.database_url)  # type: ignore[return-value]
    return MemoryStore(settings.memory_db_path)
