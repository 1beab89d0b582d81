"""Shared fixtures: a real SQLite file per test, tracing off, the real chat service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from agents import set_tracing_disabled
from chat_support import make_service
from pg_server import pg_server, pg_url  # noqa: F401  (fixtures: a real PostgreSQL server)

from bot.core.chat import ChatService
from bot.core.store import MemoryStore
from bot.memory import SqlMemoryStore
from bot.settings import Settings

set_tracing_disabled(True)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A developer's own .env or exported tokens must not change what the tests see.
    # Derived from the Settings fields so a new setting can never leak in from outside.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "memory.db"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that needs the PostgreSQL server is slow by nature (it starts one per session).
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == "postgres"
        if on_postgres or {"pg_server", "pg_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test using the store runs on both back ends (PostgreSQL: a real server)."""
    return request.param


@pytest.fixture
def memory_target(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """Where this test's memory lives: the SQLite file, or a fresh PostgreSQL database."""
    return db_path if backend == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def open_memory(memory_target: str | Path) -> Callable[[], SqlMemoryStore]:
    """Opens another store on this test's memory: a restart, or a second process."""
    return lambda: SqlMemoryStore(memory_target)


@pytest.fixture
async def store(open_memory: Callable[[], SqlMemoryStore]) -> AsyncIterator[SqlMemoryStore]:
    async with open_memory() as memory:
        yield memory


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[SqlMemoryStore]:
    """For what only the SQLite file has (its tables read directly, file permissions)."""
    async with SqlMemoryStore(db_path) as memory:
        yield memory


@pytest.fixture
def service(store: MemoryStore) -> ChatService:
    return make_service(store, history_window=10)
