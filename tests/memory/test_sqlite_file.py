"""What only the SQLite file has: permissions, erasing from the file's bytes, a full disk, and
one-line errors for a file the bot cannot use."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from chat_support import make_service, set_facts
from sqlalchemy import event
from test_store import turn

from bot.core.domain import UserKey
from bot.core.store import StoreError, StoreFull
from bot.memory import SqlMemoryStore

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")

SECRET = "Zanzibarian-marmalade-4417"


def secret_turn() -> list[dict]:
    return [
        {"role": "user", "content": f"My secret is {SECRET}"},
        {"type": "message", "role": "assistant", "content": f"Noted: {SECRET}"},
    ]


def file_bytes(db: Path) -> bytes:
    """The memory file and its WAL, as a disk reader would see them."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


async def test_file_is_private(db_path: Path) -> None:
    async with SqlMemoryStore(db_path):
        pass
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700


async def test_forget_leaves_no_row_and_no_bytes_in_the_file(
    sqlite_store: SqlMemoryStore, db_path: Path
) -> None:

    store = sqlite_store
    await store.commit_turn(ADA, secret_turn(), set_facts(name="Ada", city=SECRET))
    await store.commit_turn(BOB, turn(2), set_facts(name="Bob"))
    assert SECRET.encode() in file_bytes(db_path)
    await store.forget(ADA)
    with sqlite3.connect(db_path) as conn:
        for table, column in (
            ("agent_messages", "session_id"),
            ("agent_sessions", "session_id"),
            ("memory_items", "user_key"),
            ("history_counts", "user_key"),
            ("history_marks", "user_key"),
        ):
            rows = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", ("console:ada",)
            )
            assert rows.fetchone() == (0,), table
    assert SECRET.encode() not in file_bytes(db_path)
    assert (await store.memory(BOB)).facts() == {"name": "Bob"}


async def test_forget_with_a_reader_open_finishes_the_erase_when_it_leaves(
    sqlite_store: SqlMemoryStore, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = sqlite_store
    await store.commit_turn(ADA, secret_turn())
    # Another process reading the file: an open read transaction pins the old pages.
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM agent_messages").fetchone() == (2,)
    with caplog.at_level(logging.INFO, logger="bot.memory"):
        report = await store.forget(ADA)
        assert report.history_items == 2
        assert "another program is reading it" in caplog.text
        # The reader still sees its snapshot; the text cannot be erased under it.
        assert reader.execute("SELECT COUNT(*) FROM agent_messages").fetchone() == (2,)
        reader.execute("COMMIT")
        reader.close()
        await asyncio.wait_for(store.erase_complete(), 30)
        assert "erased text is now gone" in caplog.text
    assert SECRET.encode() not in file_bytes(db_path)


async def test_forget_city_leaves_no_trace_of_it_in_the_file_bytes(
    sqlite_store: SqlMemoryStore, db_path: Path
) -> None:
    service = make_service(sqlite_store)
    await service.handle(ADA, "My name is Ada and I live in Zanzibartown")
    await service.handle(ADA, "What's my city?")
    await service.handle(ADA, "remember that my dog is called Rex")
    await service.handle(BOB, "I live in Oslo")
    assert b"Zanzibartown" in file_bytes(db_path)
    reply = await service.handle(ADA, "!forget city")
    assert reply.text.startswith("Done. I forgot your city (Zanzibartown)")
    assert b"Zanzibartown" not in file_bytes(db_path)
    # The rest is intact: the other items, the history around it, the other user.
    assert (await sqlite_store.memory(ADA)).facts() == {"name": "Ada"}
    assert len(await sqlite_store.all_items(ADA)) == 12
    assert b"my dog is called Rex" in file_bytes(db_path)
    assert (await sqlite_store.memory(BOB)).facts() == {"city": "Oslo"}


async def test_a_full_disk_raises_store_full_and_keeps_reads_working(
    sqlite_store: SqlMemoryStore,
) -> None:
    store = sqlite_store
    await store.commit_turn(ADA, turn(1), set_facts(name="Ada"))
    await store.engine.dispose()  # new connections get the cap below
    cap = event.listens_for(store.engine.sync_engine, "connect")

    @cap
    def full(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA page_count")
        (pages,) = cursor.fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    big = [{"role": "user", "content": "x" * 200_000}]
    with pytest.raises(StoreFull) as raised:
        await store.commit_turn(ADA, big)
    assert "full" in str(raised.value) and "\n" not in str(raised.value)
    # Nothing of the failed turn landed; reading still works.
    assert await store.all_items(ADA) == turn(1)
    assert (await store.memory(ADA)).facts() == {"name": "Ada"}


async def test_a_folder_is_refused_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as raised:
        await SqlMemoryStore(tmp_path).open()
    assert "is a folder" in str(raised.value)


async def test_an_unwritable_folder_is_refused_with_one_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/sys/memory.db")  # even root cannot create files there
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "memory.db"
    with pytest.raises(StoreError) as raised:
        await SqlMemoryStore(target).open()
    message = str(raised.value)
    assert f"cannot create the memory file {target}" in message
    assert "MEMORY_DB_PATH" in message and "\n" not in message


@pytest.mark.parametrize(
    "content",
    [b"this is a text file, not a database\n" * 200, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["text", "damaged"],
)
async def test_a_file_that_is_not_a_memory_file_is_refused(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "memory.db"
    target.write_bytes(content)
    with pytest.raises(StoreError) as raised:
        await SqlMemoryStore(target).open()
    assert "is not a usable memory file" in str(raised.value)
    assert target.read_bytes() == content  # left as it was


async def test_tables_that_clash_with_ours_are_refused_at_open(tmp_path: Path) -> None:
    target = tmp_path / "memory.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE agent_messages (id INTEGER PRIMARY KEY, body TEXT)")
    with pytest.raises(StoreError) as raised:
        await SqlMemoryStore(target).open()
    message = str(raised.value)
    assert "table agent_messages made by other software" in message
    assert "session_id" in message and "\n" not in message
