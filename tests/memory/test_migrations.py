"""Versioned migrations: a file of the first release opens with nothing lost, several processes
may migrate at once, and a database the bot cannot use is refused with one line."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from chat_support import set_facts
from processes import bot_env, migrate_at_once
from stored_turns import expected_page, split_turns
from test_store import turn

from bot.core.domain import UserKey
from bot.core.store import StoreError
from bot.memory import SqlMemoryStore
from bot.memory.migrations import LATEST, STEPS

ADA = UserKey.parse("console:ada")
U = UserKey.parse("u")

FIXTURE = Path(__file__).parent / "fixtures" / "memory-v0.1.db"
REPO = Path(__file__).resolve().parents[2]
V01_USERS = {
    "console:ada": ({"name": "Ada", "city": "Lisbon"}, 10),
    "discord:42": ({"name": "Grace", "city": "Porto"}, 12),
    "console:ünïcødé": ({"name": "Zoë"}, 4),
}


def read_raw(db: Path) -> dict[str, list[dict]]:
    """Each user's history straight from the file, as the first release stored it."""
    # immutable: reading the committed fixture must not create -wal/-shm files beside it.
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as conn:
        rows = conn.execute("SELECT session_id, message_data FROM agent_messages ORDER BY id")
        history: dict[str, list[dict]] = {}
        for user, data in rows:
            history.setdefault(user, []).append(json.loads(data))
    return history


@pytest.fixture
def v01_copy(tmp_path: Path) -> Path:
    target = tmp_path / "old" / "memory.db"
    target.parent.mkdir(mode=0o700)
    shutil.copyfile(FIXTURE, target)
    return target


async def test_a_file_of_the_first_release_opens_with_everything_intact(v01_copy: Path) -> None:
    before = read_raw(v01_copy)
    assert {user: len(items) for user, items in before.items()} == {
        user: count for user, (_, count) in V01_USERS.items()
    }
    async with SqlMemoryStore(v01_copy) as store:
        for user, (facts, count) in V01_USERS.items():
            assert (await store.memory(user)).facts() == facts
            # Name and city are memory items 1 and 2, with the first release's timestamps.
            items = (await store.memory(user)).items
            assert [(i.number, i.kind, i.value) for i in items] == [
                (n, kind, facts[kind]) for n, kind in enumerate(facts, start=1)
            ]
            assert all(i.updated_at.isoformat() == "2026-11-29T00:03:18+00:00" for i in items)
            assert await store.all_items(user) == before[user]
            page = await store.history_page(user, 1, 2)
            assert page.total == count
            assert page.turns == len(split_turns(before[user])) >= 1
            assert page.items == expected_page(before[user], 1, 2)
        # Still writable, and the old history is read with the new.
        await store.commit_turn(ADA, turn(1), set_facts(city="Porto"))
        assert (await store.memory(ADA)).next_number == 3
        assert await store.all_items(ADA) == before["console:ada"] + turn(1)
        after = before["console:ada"] + turn(1)
        assert (await store.history_page(ADA, 2, 2)).items == expected_page(after, 2, 2)
    with sqlite3.connect(v01_copy) as conn:
        versions = conn.execute("SELECT version FROM memory_schema_versions ORDER BY 1").fetchall()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))
    assert "user_history_counts" not in tables  # replaced by the kept positions
    assert "user_facts" not in tables  # moved into memory_items
    # The committed fixture itself is never touched.
    assert read_raw(FIXTURE) == before


async def test_opening_twice_applies_each_step_once(open_memory) -> None:  # type: ignore[no-untyped-def]
    async with open_memory() as store:
        await store.commit_turn(U, turn(1), set_facts(name="Ada"))
    async with open_memory() as again:
        await again.migrate()
        assert await again.all_items(U) == turn(1)
        async with again.engine.connect() as conn:
            from sqlalchemy import text

            rows = await conn.execute(text("SELECT version FROM memory_schema_versions"))
            assert sorted(rows.scalars()) == list(range(1, len(STEPS) + 1))


@pytest.mark.slow
def test_several_processes_migrating_one_new_file_at_once(tmp_path: Path) -> None:
    db = tmp_path / "data" / "memory.db"
    migrate_at_once(4, bot_env(MEMORY_DB_PATH=str(db)), tmp_path)
    with sqlite3.connect(db) as conn:
        versions = conn.execute("SELECT version FROM memory_schema_versions ORDER BY 1").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("DROP TABLE memory_items", "is missing the table memory_items"),
        ("DROP TABLE history_marks", "is missing the table history_marks"),
        ("ALTER TABLE memory_items DROP COLUMN source_ref", "made by other software"),
        (
            "ALTER TABLE history_counts DROP COLUMN turn_count",
            "is missing the column turn_count of table history_counts",
        ),
    ],
)
async def test_a_table_or_column_dropped_outside_the_bot_is_refused(
    db_path: Path, damage: str, expected: str
) -> None:
    async with SqlMemoryStore(db_path) as store:
        await store.commit_turn(U, turn(1), set_facts(name="Ada"))
    with sqlite3.connect(db_path) as conn:
        conn.execute(damage)
    with pytest.raises(StoreError) as raised:
        await SqlMemoryStore(db_path).open()
    message = str(raised.value)
    assert expected in message and str(db_path) in message
    assert "\n" not in message


async def test_a_file_from_before_whole_turn_pages_is_upgraded(db_path: Path) -> None:
    # A file at schema version 3: item positions, no turn count.
    async with SqlMemoryStore(db_path) as store:
        for n in range(5):
            await store.commit_turn(U, turn(n, with_call=n % 2 == 0))
        stored = await store.all_items(U)
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE history_counts DROP COLUMN turn_count")
        conn.execute("DELETE FROM memory_schema_versions WHERE version = 4")
    async with SqlMemoryStore(db_path) as store:
        page = await store.history_page(U, 1, 2)
        assert (page.turns, page.pages, page.items) == (5, 3, expected_page(stored, 1, 2))
        await store.commit_turn(U, turn(5))
        page = await store.history_page(U, 3, 2)
        assert (page.turns, page.items) == (6, expected_page(stored + turn(5), 3, 2))


async def test_a_newer_schema_is_refused(db_path: Path) -> None:
    async with SqlMemoryStore(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO memory_schema_versions VALUES (?, 'from the future', '2030-01-01')",
            (LATEST + 1,),
        )
    with pytest.raises(StoreError) as raised:
        await SqlMemoryStore(db_path).open()
    assert "newer than this bot knows" in str(raised.value)


async def test_an_unreachable_postgresql_is_refused_with_one_line() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+asyncpg://bot:s3cret-pw@127.0.0.1:{port}/memory"
    with pytest.raises(StoreError) as raised:
        await asyncio.wait_for(SqlMemoryStore(url).open(), 60)
    message = str(raised.value)
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in message
    assert "DATABASE_URL" in message and "s3cret-pw" not in message and "\n" not in message
