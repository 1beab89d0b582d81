"""Versioned migrations: a file of the first release opens with nothing lost, several processes
may migrate at once, and a database the bot cannot use is refused with one line."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from chat_support import set_facts
from processes import bot_env, migrate_at_once
from sqlalchemy import insert as sql_insert
from sqlalchemy import inspect, text
from stored_turns import expected_page, split_turns
from test_store import turn

from bot.core.domain import UserKey
from bot.core.store import StoreError
from bot.core.usage import UsageCounts, UsageRecord
from bot.memory import SqlMemoryStore, migrations
from bot.memory.migrations import LATEST, STEPS, m006_community, m007_turn_pages
from bot.memory.schema import agent_messages, agent_sessions, memory_items, memory_settings

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
        for name, (facts, count) in V01_USERS.items():
            user = UserKey.parse(name)
            assert (await store.memory(user)).facts() == facts
            # Name and city are memory items 1 and 2, with the first release's timestamps.
            items = (await store.memory(user)).items
            assert [(i.number, i.kind, i.value) for i in items] == [
                (n, kind, facts[kind]) for n, kind in enumerate(facts, start=1)
            ]
            assert all(i.updated_at.isoformat() == "2026-11-29T00:03:18+00:00" for i in items)
            assert await store.all_items(user) == before[name]
            page = await store.history_page(user, 1, 2)
            assert page.total == count
            assert page.turns == len(split_turns(before[name])) >= 1
            assert page.items == expected_page(before[name], 1, 2)
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


V3_FIXTURE = Path(__file__).parent / "fixtures" / "memory-v3.db"


async def test_a_file_of_the_previous_release_opens_with_everything_intact(tmp_path: Path) -> None:
    """`memory-v3.db` was written by the previous release (schema 3, commit cea51ad): Ada
    said she lived in Lisbon, moved to Porto, kept two notes and forgot one; Bob lives in
    Oslo. It opens with nothing lost, and forgetting Ada's city forgets Lisbon too."""
    db = tmp_path / "memory.db"
    shutil.copyfile(V3_FIXTURE, db)
    before = read_raw(db)
    ada, bob = UserKey("console", "ada"), UserKey("console", "bob")
    async with SqlMemoryStore(db) as store:
        memory = await store.memory(ada)
        assert [(i.number, i.kind, i.value) for i in memory.items] == [
            (1, "name", "Ada"),
            (2, "city", "Porto"),
            (4, "note", "my dog is called Rex"),
        ]
        assert memory.next_number == 5  # a forgotten number is not given out again
        assert (await store.memory(bob)).facts() == {"name": "Bob", "city": "Oslo"}
        for user in (ada, bob):
            assert await store.all_items(user) == before[str(user)]
        change = await store.forget_item(ada, "city")
        assert change is not None and change.value == "Porto"
        shown = json.dumps(await store.export(ada))
        assert "Lisbon" not in shown and "Porto" not in shown
        await store.erase_complete()
    data = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    assert b"Lisbon" not in data and b"Porto" not in data and b"Oslo" in data
    assert read_raw(V3_FIXTURE) == before  # the committed fixture itself is never touched


async def test_a_schema_3_database_gains_the_forgetting_step_on_both_back_ends(
    memory_target: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at schema 3 (made here by the first three steps alone) with history that
    corrected a city: step 4 adds its columns and tables and finds the old value's forms."""

    monkeypatch.setattr(migrations, "STEPS", STEPS[:3])
    monkeypatch.setattr(migrations, "LATEST", 3)
    old = SqlMemoryStore(memory_target)
    async with old, old.engine.begin() as conn:
        user = "console:ada"
        call = {"type": "function_call", "call_id": "c1", "name": "save_facts"}
        await conn.execute(sql_insert(agent_sessions).values(session_id=user))
        await conn.execute(
            sql_insert(agent_messages),
            [
                {"session_id": user, "message_data": json.dumps(item)}
                for item in (
                    {"role": "user", "content": "I live in Lisbon"},
                    {**call, "arguments": json.dumps({"city": "Lisbon"})},
                    {"role": "user", "content": "I moved to Porto"},
                    {**call, "call_id": "c2", "arguments": json.dumps({"city": "Porto"})},
                )
            ],
        )
        moment = datetime(2026, 11, 30, tzinfo=UTC)
        await conn.execute(
            sql_insert(memory_items).values(
                user_key=user,
                number=1,
                kind="city",
                value="Porto",
                created_at=moment,
                updated_at=moment,
                source="console",
                source_ref=None,
            )
        )
        await conn.execute(
            sql_insert(memory_settings).values(user_key=user, paused=False, next_number=2)
        )
    monkeypatch.undo()
    async with SqlMemoryStore(memory_target) as store:
        assert (await store.memory(ADA)).generation == 0
        assert (await store.forget_item(ADA, "city")) is not None
        history = json.dumps(await store.all_items(ADA))
        assert "Lisbon" not in history and "Porto" not in history
        assert (await store.memory(ADA)).generation == 1


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
    # A file from before the step: item positions, no turn count.
    step = STEPS.index(m007_turn_pages) + 1
    async with SqlMemoryStore(db_path) as store:
        for n in range(5):
            await store.commit_turn(U, turn(n, with_call=n % 2 == 0))
        stored = await store.all_items(U)
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE history_counts DROP COLUMN turn_count")
        conn.execute("DELETE FROM memory_schema_versions WHERE version = ?", (step,))
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


COMMUNITY_STEP = STEPS.index(m006_community)
SERVER = "discord:1"


async def community_works(store: SqlMemoryStore) -> None:
    """The new tables take settings and usage, read back as written."""
    await store.set_place_setting(SERVER, "", "daily_turns_per_user", "5", by=ADA)
    assert [(r.name, r.value) for r in await store.place_settings(SERVER)] == [
        ("daily_turns_per_user", "5")
    ]
    record = UsageRecord(date(2026, 12, 1), SERVER, 1, 10, 3)
    result = await store.commit_turn(ADA, turn(99), usage=record)
    assert result.usage_today == UsageCounts(1, 1, 10, 3)


async def test_a_first_release_file_gains_settings_and_usage(v01_copy: Path) -> None:
    before = read_raw(v01_copy)
    async with SqlMemoryStore(v01_copy) as store:
        await community_works(store)
        for user, (facts, _count) in V01_USERS.items():
            assert (await store.memory(user)).facts() == facts
        assert await store.all_items("discord:42") == before["discord:42"]
    with sqlite3.connect(v01_copy) as conn:
        names = dict(conn.execute("SELECT version, name FROM memory_schema_versions"))
    assert names[COMMUNITY_STEP + 1] == m006_community.NAME


async def test_a_database_of_the_previous_schema_upgrades_with_nothing_lost(
    open_memory,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # A database as the current main writes it: every step before this one.
    with monkeypatch.context() as previous:
        previous.setattr(migrations, "STEPS", STEPS[:COMMUNITY_STEP])
        previous.setattr(migrations, "LATEST", COMMUNITY_STEP)
        async with open_memory() as old:
            await old.commit_turn(ADA, turn(1), set_facts(name="Ada", city="Lisbon"))
            await old.commit_turn(ADA, turn(2))
            await old.set_paused(U, True)
            items, page = await old.all_items(ADA), await old.history_page(ADA, 1, 3)
            memory = await old.memory(ADA)
            async with old.engine.connect() as conn:
                tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert "usage_days" not in tables and "place_settings" not in tables
    async with open_memory() as store:
        assert await store.all_items(ADA) == items
        assert await store.history_page(ADA, 1, 3) == page
        assert await store.memory(ADA) == memory
        assert (await store.memory(U)).paused
        await community_works(store)
        async with store.engine.connect() as conn:
            rows = await conn.execute(text("SELECT version FROM memory_schema_versions"))
            assert sorted(rows.scalars()) == list(range(1, LATEST + 1))
