"""Memory: where each person's history and memory items are stored, and how a turn reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .contract import MemoryStore
from .errors import StoreError, StoreFull
from .items import (
    FACT_NAMES,
    ForgetReport,
    HistoryPage,
    MemorySource,
    is_user_message,
    message_text,
)
from .session import TurnSession
from .store import SqlMemoryStore

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "FACT_NAMES",
    "ForgetReport",
    "HistoryPage",
    "MemorySource",
    "MemoryStore",
    "SqlMemoryStore",
    "StoreError",
    "StoreFull",
    "TurnSession",
    "describe_memory",
    "is_user_message",
    "message_text",
    "open_store",
]


def _database_url(settings: Settings) -> str | None:
    url = settings.database_url
    # A secret in typed settings: read its value only here, where the engine needs it.
    reveal = getattr(url, "get_secret_value", None)
    return reveal() if reveal is not None else url


def describe_memory(settings: Settings) -> str:
    """Where memory lives, for the log (never the database URL: it holds a password)."""
    return "PostgreSQL (DATABASE_URL)" if _database_url(settings) else str(settings.memory_db_path)


def open_store(settings: Settings) -> SqlMemoryStore:
    """The store the settings select: PostgreSQL for a DATABASE_URL, else the SQLite file.
    Use it as `async with open_store(settings) as store` (it also opens on first use)."""
    url = _database_url(settings)
    return SqlMemoryStore(url if url else settings.memory_db_path)
