"""What only the PostgreSQL store has, against a real server: rows and tables as the SDK
writes them, one bounded pool, cross-process turn locks, concurrent migration. The behaviour
both stores share is tested on both by the parametrised store and chat-service tests.

Two store instances on one database stand for two bot processes: each has its own engine,
pool and server connections, exactly as separate processes would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_support import make_service, set_facts
from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)
from processes import bot_env, migrate_at_once
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from test_store import turn

from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore, open_store
from bot.memory.backends import PostgresBackend, async_url, is_postgres_url
from bot.settings import Settings

TABLES = (
    ("agent_messages", "session_id"),
    ("agent_sessions", "session_id"),
    ("memory_items", "user_key"),
)

CONSOLE_39 = UserKey.parse("console:39")
ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
NEW = UserKey.parse("new")
U = UserKey.parse("u")


async def count_rows(store: SqlMemoryStore, user_key: str) -> dict[str, int]:
    """Rows of `user_key` in each table, read straight from the database."""
    counts = {}
    async with store.engine.connect() as conn:
        for table, column in TABLES:
            result = await conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :key"), {"key": user_key}
            )
            counts[table] = result.scalar_one()
    return counts


async def advisory_locks(store: SqlMemoryStore) -> int:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        )
        return result.scalar_one()


async def wait_for_advisory_locks(store: SqlMemoryStore, *, granted: int, waiting: int) -> None:
    """Return once the server shows exactly these advisory locks held and waited for: the
    event a lock test waits on, instead of sleeping and hoping."""
    query = text(
        "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
        " FROM pg_locks WHERE locktype = 'advisory'"
    )
    async with asyncio.timeout(30), store.engine.connect() as conn:
        while tuple((await conn.execute(query)).one()) != (granted, waiting):
            await conn.rollback()  # a fresh snapshot of pg_locks each time
            await asyncio.sleep(0.01)


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[SqlMemoryStore]:  # noqa: F811
    async with SqlMemoryStore(pg_url) as memory:
        yield memory


def test_postgres_urls_are_recognised() -> None:
    assert is_postgres_url("postgresql+asyncpg://bot:pw@db:5432/memory")
    assert is_postgres_url("postgres://bot@db/memory")
    assert is_postgres_url("postgresql://bot@db/memory")
    assert not is_postgres_url("data/memory.db")
    assert not is_postgres_url("sqlite+aiosqlite:///memory.db")
    assert not is_postgres_url("")
    assert async_url("postgres://bot:pw@db/memory").drivername == "postgresql+asyncpg"
    with pytest.raises(ValueError):
        PostgresBackend("data/memory.db")
    with pytest.raises(ValueError):
        SqlMemoryStore("postgresql://db/m", pool_size=1, max_overflow=0)


async def test_facts_are_updated_in_place(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), set_facts(name="Ada", city="Lisbon"))
    await store.commit_turn(U, turn(2), set_facts(city="Porto"))
    assert (await store.memory(U)).facts() == {"city": "Porto", "name": "Ada"}


async def test_forget_removes_history_and_facts_and_reports_them(
    store: SqlMemoryStore,
) -> None:
    await store.commit_turn(ADA, turn(1, with_call=True), set_facts(name="Ada", city="X"))
    await store.commit_turn(BOB, turn(2), set_facts(name="Bob"))
    report = await store.forget(ADA)
    assert report.history_items == 4
    assert report.facts == {"name": "Ada", "city": "X"}
    assert await count_rows(store, "console:ada") == dict.fromkeys(
        ["agent_messages", "agent_sessions", "memory_items"], 0
    )
    assert (await store.memory(ADA)).facts() == {}
    assert await store.all_items(ADA) == []
    # Bob is untouched.
    assert await count_rows(store, "console:bob") == {
        "agent_messages": 2,
        "agent_sessions": 1,
        "memory_items": 1,
    }
    assert (await store.forget(ADA)).empty


async def test_export_has_the_sqlite_stores_shape(store: SqlMemoryStore, tmp_path: Path) -> None:
    async with SqlMemoryStore(tmp_path / "m.db") as sqlite:
        for memory in (store, sqlite):
            await memory.commit_turn(ADA, turn(1, with_call=True), set_facts(name="Ada"))
        on_sqlite = await sqlite.export(ADA)
    exported = json.loads(json.dumps(await store.export(ADA)))
    assert exported.keys() == on_sqlite.keys()
    assert exported["user"] == "console:ada"
    assert exported["history"] == on_sqlite["history"] == turn(1, with_call=True)
    assert exported["facts"].keys() == on_sqlite["facts"].keys() == {"name"}
    fact = exported["facts"]["name"]
    assert fact.keys() == on_sqlite["facts"]["name"].keys()
    assert fact["value"] == "Ada"
    for stamp in (fact["updated_at"], exported["exported_at"]):
        # Same format as SQLite's: UTC, whole seconds.
        assert len(stamp) == len(on_sqlite["exported_at"])
        assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)).total_seconds() < 60


async def test_a_failed_commit_stores_nothing(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), set_facts(name="Ada"))
    # The history items go in first; the fact (NULL breaks NOT NULL) fails after them, in the
    # same transaction, so the whole turn must be rolled back.
    with pytest.raises(IntegrityError):
        await store.commit_turn(U, turn(2, with_call=True), set_facts(city=None))  # type: ignore[dict-item]
    with pytest.raises(IntegrityError):
        await store.commit_turn(NEW, turn(3), set_facts(city=None))  # type: ignore[dict-item]
    assert await store.all_items(U) == turn(1)
    assert (await store.memory(U)).facts() == {"name": "Ada"}
    assert await count_rows(store, "u") == {
        "agent_messages": 2,
        "agent_sessions": 1,
        "memory_items": 1,
    }
    assert await count_rows(store, "new") == dict.fromkeys(
        ["agent_messages", "agent_sessions", "memory_items"], 0
    )


async def test_an_empty_commit_writes_nothing(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, [])
    assert await count_rows(store, "u") == dict.fromkeys(
        ["agent_messages", "agent_sessions", "memory_items"], 0
    )


async def test_one_engine_and_a_bounded_pool(pg_url: str) -> None:  # noqa: F811
    # Only this store's connections are counted: the server's own workers (autovacuum) and
    # the observer's connections also appear in pg_stat_activity for the database.
    async with SqlMemoryStore(
        pg_url, pool_size=2, max_overflow=1, application_name="pool-under-test"
    ) as store:
        database = async_url(pg_url).database
        peak = 0

        async def sample(stop: asyncio.Event) -> None:
            nonlocal peak
            async with SqlMemoryStore(pg_url) as observer, observer.engine.connect() as conn:
                while not stop.is_set():
                    count = await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = :db AND application_name = :app"
                        ),
                        {"db": database, "app": "pool-under-test"},
                    )
                    peak = max(peak, count.scalar_one())
                    await asyncio.sleep(0.005)

        async def user(n: int) -> None:
            await store.commit_turn(UserKey.parse(f"u{n}"), turn(n), set_facts(name="Ada"))
            assert (await store.recent_items(UserKey.parse(f"u{n}"), 5)).items == turn(n)
            assert (await store.memory(UserKey.parse(f"u{n}"))).facts() == {"name": "Ada"}

        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(stop))
        await asyncio.gather(*(user(n) for n in range(60)))
        stop.set()
        await sampler
        assert store.engine.pool.size() == 2
        assert 1 <= peak <= 3


async def test_turn_lock_keeps_out_other_processes(pg_url: str) -> None:  # noqa: F811
    async with SqlMemoryStore(pg_url) as one, SqlMemoryStore(pg_url) as two:
        async with one.turn_lock(ADA):
            waiting = asyncio.create_task(_hold(two, "console:ada"))
            await wait_for_advisory_locks(one, granted=1, waiting=1)
            assert not waiting.done()
            # Another user is not held up.
            await asyncio.wait_for(_hold(two, "console:bob"), 5)
        await asyncio.wait_for(waiting, 5)
        assert await advisory_locks(one) == 0


async def _hold(store: SqlMemoryStore, user_key: str, release: asyncio.Event | None = None) -> None:
    async with store.turn_lock(user_key):
        if release is not None:
            await release.wait()


async def test_turn_lock_is_released_on_cancellation(pg_url: str) -> None:  # noqa: F811
    async with SqlMemoryStore(pg_url) as one, SqlMemoryStore(pg_url) as two:
        never = asyncio.Event()
        holder = asyncio.create_task(_hold(one, "u", never))
        await wait_for_advisory_locks(one, granted=1, waiting=0)
        waiters = [asyncio.create_task(_hold(two, "u")) for _ in range(3)]
        await wait_for_advisory_locks(one, granted=1, waiting=3)
        assert not any(w.done() for w in waiters)
        waiters[0].cancel()  # cancelled while waiting for the lock
        holder.cancel()  # cancelled while holding it
        for task in (holder, waiters[0]):
            with pytest.raises(asyncio.CancelledError):
                await task
        await asyncio.wait_for(asyncio.gather(*waiters[1:]), 5)
        assert await advisory_locks(one) == 0
        await asyncio.wait_for(_hold(one, "u"), 5)


async def test_forget_waits_for_a_turn_in_another_process(pg_url: str) -> None:  # noqa: F811
    async with SqlMemoryStore(pg_url) as one, SqlMemoryStore(pg_url) as two:
        await one.commit_turn(U, turn(1), set_facts(name="Ada"))
        async with one.turn_lock(U):
            # A forget given up while it waits changes nothing and leaves no lock behind.
            abandoned = asyncio.create_task(two.forget(U))
            await wait_for_advisory_locks(one, granted=1, waiting=1)
            abandoned.cancel()
            with pytest.raises(asyncio.CancelledError):
                await abandoned
            await wait_for_advisory_locks(one, granted=1, waiting=0)
            forgetting = asyncio.create_task(two.forget(U))
            await wait_for_advisory_locks(one, granted=1, waiting=1)
            assert not forgetting.done()
            await one.commit_turn(U, turn(2), set_facts(city="Lisbon"))
        report = await asyncio.wait_for(forgetting, 5)
        assert report.history_items == 4
        assert report.facts == {"name": "Ada", "city": "Lisbon"}
        assert await count_rows(one, "u") == dict.fromkeys(
            ["agent_messages", "agent_sessions", "memory_items"], 0
        )
        # Within its own turn a process may forget without waiting for itself.
        async with one.turn_lock(U):
            await one.commit_turn(U, turn(3))
            assert (await asyncio.wait_for(one.forget(U), 5)).history_items == 2


async def test_migrate_is_idempotent_and_safe_to_run_at_once(pg_url: str) -> None:  # noqa: F811
    stores = [SqlMemoryStore(pg_url, pool_size=1, max_overflow=1) for _ in range(8)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        await asyncio.gather(*(s.migrate() for s in stores[:2]))
        await stores[0].commit_turn(U, turn(1), set_facts(name="Ada"))
        assert await stores[-1].all_items(U) == turn(1)
    finally:
        await asyncio.gather(*(s.aclose() for s in stores))


async def test_the_seed_flow_through_the_chat_service(pg_url: str) -> None:  # noqa: F811
    async with SqlMemoryStore(pg_url) as first:
        told = await make_service(first).turn(ADA, "My name is Ada and I live in Lisbon")
        assert told.ok
    async with SqlMemoryStore(pg_url) as second:
        asked = await make_service(second).turn(ADA, "What's my city?")
        assert asked.reply == "Your city is Lisbon."
        calls = [i for i in asked.added if i.get("type") == "function_call"]
        assert [c["name"] for c in calls] == ["read_facts"]
        assert (await second.memory(ADA)).facts() == {"name": "Ada", "city": "Lisbon"}
        history = await second.all_items(ADA)
        assert history == told.added + asked.added
        assert (await second.memory(BOB)).facts() == {}


async def test_more_turns_than_lock_slots_do_not_starve_the_pool(pg_url: str) -> None:  # noqa: F811
    # Each turn holds a connection for its lock; with 16 turns allowed and 3 connections the
    # store must still leave room for the turns' reads and commits.
    async with SqlMemoryStore(pg_url, pool_size=2, max_overflow=1, pool_timeout=10) as store:
        service = make_service(store, max_concurrent_turns=16)
        results = await asyncio.gather(
            *(
                service.turn(UserKey.parse(f"console:{n}"), "My name is Ada and I live in Porto")
                for n in range(40)
            )
        )
        assert all(r.ok for r in results), [r.failure for r in results if not r.ok]
        assert (await store.memory(CONSOLE_39)).facts() == {"name": "Ada", "city": "Porto"}


async def test_database_url_selects_postgresql(pg_url: str) -> None:  # noqa: F811
    store = open_store(Settings(database_url=pg_url, bot_model="offline"))
    assert store.dialect == "postgresql"
    async with store:
        await store.commit_turn(ADA, turn(1), set_facts(name="Ada"))
    async with SqlMemoryStore(pg_url) as again:
        assert (await again.memory(ADA)).facts() == {"name": "Ada"}


async def test_a_closed_store_refuses_work(pg_url: str) -> None:  # noqa: F811
    store = SqlMemoryStore(pg_url)
    await store.commit_turn(U, turn(1))  # the schema is created on first use
    await store.aclose()
    with pytest.raises(RuntimeError):
        (await store.memory(U)).facts()


def test_migrate_command_creates_the_tables(pg_url: str, tmp_path: Path) -> None:  # noqa: F811

    async def tables() -> set[str]:
        # A bare engine: opening a store would create the tables itself.
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(async_url(pg_url))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
                return {row[0] for row in rows}
        finally:
            await engine.dispose()

    assert "memory_items" not in asyncio.run(tables())  # a fresh database
    for err in migrate_at_once(3, bot_env(DATABASE_URL=pg_url), tmp_path):
        assert "memory tables ready in PostgreSQL" in err
        assert pg_url.split("@")[0] not in err  # the URL (and its password) is never logged

    assert {"agent_sessions", "agent_messages", "memory_items"} <= asyncio.run(tables())
