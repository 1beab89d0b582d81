"""Shared fixtures: a real SQLite file per test, tracing off, the real chat service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agents import set_tracing_disabled

from bot.chat import ChatService
from bot.memory import MemoryStore
from bot.offline_model import OfflineModel

set_tracing_disabled(True)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A developer's own .env or exported tokens must not change what the tests see.
    for name in (
        "DISCORD_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "BOT_MODEL",
        "MEMORY_DB_PATH",
        "COMMAND_PREFIX",
        "CHAT_CHANNEL_IDS",
        "HISTORY_WINDOW",
        "SHOW_TURN_EMBED",
        "DEV_GUILD_ID",
        "OPENAI_API",
        "MODEL_TIMEOUT_S",
        "MODEL_MAX_RETRIES",
        "STREAM_REPLIES",
        "OPENAI_TRACING",
        "RATE_LIMIT_PER_MINUTE",
        "MAX_QUEUED_PER_USER",
        "MAX_CONCURRENT_TURNS",
        "MAX_INPUT_CHARS",
        "DATABASE_URL",
        "SHARD_COUNT",
        "SHARD_IDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "memory.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[MemoryStore]:
    async with MemoryStore(db_path) as memory:
        yield memory


@pytest.fixture
def service(store: MemoryStore) -> ChatService:
    return ChatService(store, OfflineModel(), history_window=10)
