"""Forget means forgotten (issue 17): every value an item ever had, every written form of it,
a full disk, and a second process. "Gone" is checked in the raw bytes of the database file,
its WAL and its shared-memory index, for every form the text could be stored in."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from chat_support import make_service

from bot.core.domain import UserKey, utc_now
from bot.core.render import describe_change
from bot.core.syntax import CommandSyntax
from bot.core.usage import UsageRecord
from bot.memory import SqlMemoryStore
from bot.memory.backends import SqliteBackend

ADA = UserKey("console", "ada")
BOB = UserKey("console", "bob")


def written_forms(text: str) -> set[bytes]:
    """Every way `text` can sit in the file: as typed (composed or decomposed, any case) in
    UTF-8, and as JSON writes it with and without escaping non-ASCII characters."""
    forms: set[bytes] = set()
    for variant in {text, text.lower(), text.upper(), text.casefold()}:
        for norm in ("NFC", "NFD", "NFKC"):
            shaped = unicodedata.normalize(norm, variant)
            forms.add(shaped.encode())
            forms.add(json.dumps(shaped)[1:-1].encode())
            forms.add(json.dumps(shaped, ensure_ascii=False)[1:-1].encode())
    return forms


def file_bytes(db: Path) -> bytes:
    """The memory file, its WAL and its shared-memory index, as a disk reader sees them."""
    paths = (db, Path(f"{db}-wal"), Path(f"{db}-shm"))
    return b"".join(p.read_bytes() for p in paths if p.exists())


def traces(db: Path, *texts: str) -> list[str]:
    """Which of `texts` still appear in the file's bytes, in any written form."""
    data = file_bytes(db)
    return [t for t in texts if any(form in data for form in written_forms(t))]


async def everything(store: SqlMemoryStore, user: UserKey) -> str:
    """All the bot can show of a person: history, memory items and the export."""
    return json.dumps(await store.export(user), ensure_ascii=False)


# --- 1. every value an item ever had -------------------------------------------------------


async def test_forgetting_the_city_forgets_every_city_it_ever_was(
    store: SqlMemoryStore, backend: str, db_path: Path
) -> None:
    service = make_service(store)
    await service.turn(ADA, "My name is Ada and I live in Lisbon")
    await service.turn(ADA, "I moved to Porto")
    await service.turn(BOB, "I live in Oslo")
    reply = await service.handle(ADA, "!forget city")
    assert reply.text.startswith(
        "Done. I forgot your city (Porto) and any city you gave me before it, and removed them"
    )
    shown = await everything(store, ADA)
    assert "Lisbon" not in shown and "Porto" not in shown
    assert "Ada" in shown  # the name was not asked to be forgotten
    assert (await store.memory(BOB)).facts() == {"city": "Oslo"}  # nobody else's
    if backend == "sqlite":
        await store.erase_complete()
        assert traces(db_path, "Lisbon", "Porto") == []
        assert traces(db_path, "Oslo") == ["Oslo"]


async def test_forgetting_a_name_forgets_the_names_before_it(
    store: SqlMemoryStore, backend: str, db_path: Path
) -> None:
    service = make_service(store)
    await service.turn(ADA, "My name is Zoë")
    await service.turn(ADA, "My name is Robert")
    assert "Robert" in (await service.handle(ADA, "!forget name")).text
    shown = await everything(store, ADA)
    assert "Zoë" not in shown and "Robert" not in shown
    if backend == "sqlite":
        await store.erase_complete()
        assert traces(db_path, "Zoë", "Robert") == []


async def test_a_correction_says_what_forgetting_it_does(store: SqlMemoryStore) -> None:
    service = make_service(store)
    await service.turn(ADA, "I live in Lisbon")
    moved = await service.turn(ADA, "I moved to Porto")
    [change] = moved.changes
    assert (change.value, change.previous) == ("Porto", "Lisbon")
    assert describe_change(change, CommandSyntax("!")) == (
        "city: Porto (was Lisbon) · !forget city erases both"
    )


# --- 2. every written form ----------------------------------------------------------------


def scripted_save(arguments: dict[str, str], reply: str) -> ScriptedModel:
    return ScriptedModel(
        [
            [function_call("save_facts", arguments, call_id="c1")],
            [assistant_message(reply)],
        ]
    )


@pytest.mark.parametrize(
    ("typed", "given", "stored"),
    [
        # Typed decomposed (e + combining diaeresis), stored composed.
        ("My name is Zoe\u0308lline", "Zoëlline", "Zoëlline"),
        # The model's argument has a zero-width space; the stored value has none.
        ("My name is Quintavia", "Quint\u200bavia", "Quintavia"),
        # Full-width letters, as some keyboards type them.
        ("My name is \uff2d\uff4f\uff52\uff47\uff41\uff4e\uff4e\uff41", "Morganna", "Morganna"),
    ],
)
async def test_every_written_form_of_a_name_is_erased(
    store: SqlMemoryStore, backend: str, db_path: Path, typed: str, given: str, stored: str
) -> None:
    model = scripted_save({"name": given}, f"Nice to meet you, {given}!")
    service = make_service(store, model)
    result = await service.turn(ADA, typed)
    assert result.ok and (await store.memory(ADA)).facts() == {"name": stored}
    change = await store.forget_item(ADA, "name")
    assert change is not None

    def folded(text: str) -> str:
        return unicodedata.normalize("NFKC", text).replace("\u200b", "").casefold()

    shown = folded(await everything(store, ADA))
    for text in (typed.split()[-1], given, stored):
        assert folded(text) not in shown
    if backend == "sqlite":
        await store.erase_complete()
        assert traces(db_path, typed.split()[-1], given, stored) == []


async def test_a_value_cut_at_100_characters_is_erased_whole(
    store: SqlMemoryStore, backend: str, db_path: Path
) -> None:
    long_city = " ".join(f"Brightwater{n}" for n in range(12))  # 155 characters
    model = scripted_save({"city": long_city}, "Noted.")
    service = make_service(store, model)
    await service.turn(ADA, f"I live in {long_city}")
    assert len((await store.memory(ADA)).facts()["city"]) <= 100
    await store.forget_item(ADA, "city")
    assert "Brightwater" not in await everything(store, ADA)
    if backend == "sqlite":
        await store.erase_complete()
        assert traces(db_path, "Brightwater") == []


async def test_a_note_naming_the_forgotten_city_loses_it_too(store: SqlMemoryStore) -> None:
    service = make_service(store)
    await service.turn(ADA, "I live in Lisbon")
    await service.turn(ADA, "remember that my favourite cafe is in Lisbon")
    await store.forget_item(ADA, "city")
    memory = await store.memory(ADA)
    assert [i.value for i in memory.notes()] == ["my favourite cafe is in [forgotten]"]
    assert "Lisbon" not in await everything(store, ADA)


# --- 3. a full disk -------------------------------------------------------------------------


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Make the WAL checkpoint fail as it does on a full file system, and then not."""
    real = SqliteBackend._wal_checkpoint
    state = {"full": True}

    async def checkpoint(self: SqliteBackend) -> tuple[int, int, int]:
        if state["full"]:
            raise sqlite3.OperationalError("database or disk is full")
        return await real(self)

    monkeypatch.setattr(SqliteBackend, "_wal_checkpoint", checkpoint)
    return lambda full: state.update(full=full)


async def test_forget_on_a_full_disk_says_what_is_true_and_cleans_up_later(
    sqlite_store: SqlMemoryStore, db_path: Path, full_disk: Callable[[bool], None]
) -> None:
    store = sqlite_store
    service = make_service(store)
    await service.turn(ADA, "remember that I keep a spare key under the Wistfulbrook stone")
    reply = await service.handle(ADA, "!forget 1")
    assert reply.text.startswith("Done. I forgot note 1")
    assert "gone from my memory" in reply.text and "disk holding it is full" in reply.text
    again = await service.handle(ADA, "!forget 1")
    assert again.text.startswith("There is no item 1")  # true: it is erased from memory
    assert "Wistfulbrook" not in await everything(store, ADA)
    full_disk(False)  # space returns: the retry finishes the job
    await asyncio.wait_for(store.erase_complete(), 30)
    assert traces(db_path, "Wistfulbrook") == []


async def test_cleanup_owed_on_a_full_disk_resumes_after_a_restart(
    db_path: Path, full_disk: Callable[[bool], None]
) -> None:
    async with SqlMemoryStore(db_path) as store:
        service = make_service(store)
        await service.turn(ADA, "remember that my locker code is Gravenmoor")
        change = await store.forget_item(ADA, "1")
        assert change is not None and change.pending is not None
    with sqlite3.connect(db_path) as conn:  # the owed clean-up outlived the process
        assert conn.execute("SELECT kind FROM memory_erase_jobs").fetchall() == [("checkpoint",)]
    full_disk(False)
    async with SqlMemoryStore(db_path) as restarted:
        await asyncio.wait_for(restarted.erase_complete(), 30)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM memory_erase_jobs").fetchone() == (0,)
    assert traces(db_path, "Gravenmoor") == []


# --- 4. a second process ------------------------------------------------------------------


async def test_a_turn_that_began_before_an_erase_never_lands_after_it(
    open_memory: Callable[[], SqlMemoryStore], backend: str, db_path: Path
) -> None:
    """Two processes on one database (two stores: each its own engine and pool). B's turn
    reads Ada's memory; A's `!forget` erases it; B's turn must not bring any of it back."""
    read = asyncio.Event()
    release = asyncio.Event()

    async def wait_then_answer(call: ModelCall) -> list:
        read.set()
        await release.wait()
        return [assistant_message("You live in Lisbon.")]

    model_b = ScriptedModel(
        [
            [function_call("read_facts", {}, call_id="r1")],
            ModelStep.respond(wait_then_answer),
        ]
    )
    async with open_memory() as store_a, open_memory() as store_b:
        process_a = make_service(store_a)
        process_b = make_service(store_b, model_b)
        await process_a.turn(ADA, "My name is Ada and I live in Lisbon")
        turn_b = asyncio.create_task(process_b.turn(ADA, "where do I live?"))
        await asyncio.wait_for(read.wait(), 10)
        erased = asyncio.create_task(process_a.handle(ADA, "!forget"))
        if backend == "sqlite":
            # SQLite has no cross-process turn lock: the erase goes ahead at once.
            assert (await asyncio.wait_for(erased, 10)).text.startswith("Done. I erased")
        release.set()
        result_b = await asyncio.wait_for(turn_b, 10)
        await asyncio.wait_for(erased, 10)
        if backend == "sqlite":
            assert not result_b.ok and result_b.failure == "erased_meanwhile"
            assert "kept nothing" in result_b.reply
        shown = await everything(store_a, ADA)
        assert "Lisbon" not in shown and "Ada" not in shown
        assert await store_b.all_items(ADA) == []
        await store_a.erase_complete()
    if backend == "sqlite":
        assert traces(db_path, "Lisbon") == []


async def test_an_erase_of_one_item_also_stops_a_turn_in_flight(
    sqlite_store: SqlMemoryStore, db_path: Path
) -> None:
    read, release = asyncio.Event(), asyncio.Event()

    async def wait_then_answer(call: ModelCall) -> list:
        read.set()
        await release.wait()
        return [assistant_message("Your city is Lisbon.")]

    model = ScriptedModel(
        [[function_call("read_facts", {}, call_id="r1")], ModelStep.respond(wait_then_answer)]
    )
    async with SqlMemoryStore(db_path) as other:
        here = make_service(sqlite_store)
        there = make_service(other, model)
        await here.turn(ADA, "I live in Lisbon")
        turn = asyncio.create_task(there.turn(ADA, "what's my city?"))
        await asyncio.wait_for(read.wait(), 10)
        assert (await here.handle(ADA, "!forget city")).text.startswith("Done.")
        release.set()
        assert (await asyncio.wait_for(turn, 10)).failure == "erased_meanwhile"
        assert "Lisbon" not in await everything(sqlite_store, ADA)


# --- usage counts ----------------------------------------------------------------------------


async def test_forget_erases_past_days_usage_and_keeps_todays_for_the_limits(
    store: SqlMemoryStore,
) -> None:
    today = utc_now().date()
    past = [today - timedelta(days=40), today - timedelta(days=1)]
    for day in [*past, today]:
        record = UsageRecord(day, "discord:g1", 2, 100, 20)
        await store.commit_turn(ADA, [{"role": "user", "content": "hi"}], usage=record)
    await store.commit_turn(BOB, [], usage=UsageRecord(past[0], "discord:g1", 1, 5, 5))
    await store.forget(ADA)
    days = [row["day"] for row in (await store.export(ADA))["usage"]]
    assert days == [today.isoformat()]
    # Today's count still holds for the daily limits; nobody else's changes.
    assert (await store.usage_of(ADA, today, today)).turns == 1
    assert (await store.usage_of(BOB, past[0], past[0])).turns == 1


async def test_erase_batches_skip_their_own_fsync_and_every_other_write_keeps_it(
    tmp_path: Path,
) -> None:
    backend = SqliteBackend(tmp_path / "m.db", pool_size=1, max_overflow=0)
    backend.prepare()
    sync = "PRAGMA synchronous"
    try:
        for _ in range(2):  # one pooled connection: each write below reuses it
            async with backend.write(background=True) as conn:
                assert (await conn.exec_driver_sql(sync)).scalar() == 1  # NORMAL
            async with backend.write() as conn:
                assert (await conn.exec_driver_sql(sync)).scalar() == 2  # FULL, as the SDK's
        with pytest.raises(RuntimeError):  # a batch that fails still restores it
            async with backend.write(background=True):
                raise RuntimeError
        async with backend.write() as conn:
            assert (await conn.exec_driver_sql(sync)).scalar() == 2
    finally:
        await backend.aclose()


async def test_a_commit_refused_by_a_full_disk_leaves_no_write_lock_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite keeps a transaction open when its COMMIT fails for want of space; the pooled
    # connection must not keep the file's write lock (every later write would wait on it).
    import aiosqlite

    backend = SqliteBackend(tmp_path / "m.db", pool_size=1, max_overflow=0)
    backend.prepare()
    real_commit = aiosqlite.Connection.commit
    refuse: dict[str, bool] = {}

    async def commit(self: aiosqlite.Connection) -> None:
        if refuse.pop("once", False):
            raise sqlite3.OperationalError("database or disk is full")
        await real_commit(self)

    monkeypatch.setattr(aiosqlite.Connection, "commit", commit)
    try:
        async with backend.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x)")
        refuse["once"] = True
        with pytest.raises(Exception, match="disk is full"):
            async with backend.write() as conn:
                await conn.exec_driver_sql("INSERT INTO t VALUES ('Quillfeather')")
        other = sqlite3.connect(tmp_path / "m.db", timeout=0)  # another process's view
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock is free
            assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
            other.rollback()
        finally:
            other.close()
        async with backend.write() as conn:  # and the pooled connection writes again
            await conn.exec_driver_sql("INSERT INTO t VALUES ('ok')")
    finally:
        await backend.aclose()


# --- erase work beside the turns (issue 20) --------------------------------------------------


async def test_erase_batches_delete_exactly_their_rows_and_a_failed_one_frees_the_writer(
    tmp_path: Path,
) -> None:
    # A purge batch is one script on the driver's thread (BEGIN IMMEDIATE, DELETE, COMMIT):
    # it deletes the ids it is given and nothing else, and one that fails mid-way leaves
    # neither an open transaction nor the file's write lock behind.
    from sqlalchemy import Column, Integer, MetaData, String, Table

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", String))
    backend = SqliteBackend(tmp_path / "m.db", pool_size=1, max_overflow=0)
    backend.prepare()
    try:
        async with backend.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            await conn.exec_driver_sql(
                "CREATE TRIGGER no_seven BEFORE DELETE ON t WHEN old.id = 7 "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
            for n in range(1, 11):
                await conn.exec_driver_sql(f"INSERT INTO t VALUES ({n}, 'row {n}')")
        await backend.delete_rows(table, [2, 3, 5])
        async with backend.write() as conn:
            left = [r[0] for r in await conn.exec_driver_sql("SELECT id FROM t ORDER BY id")]
        assert left == [1, 4, 6, 7, 8, 9, 10]
        with pytest.raises(Exception, match="refused"):
            await backend.delete_rows(table, [6, 7])
        async with backend.write() as conn:  # the one pooled connection syncs every write again
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
        other = sqlite3.connect(tmp_path / "m.db", timeout=0)  # another process's view
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock is free
            assert [r[0] for r in other.execute("SELECT id FROM t")] == [1, 4, 6, 7, 8, 9, 10]
            other.rollback()
        finally:
            other.close()
    finally:
        await backend.aclose()


async def test_a_forget_counts_every_row_it_hides_even_ones_stored_after_the_count(
    store: SqlMemoryStore,
) -> None:
    # The count of a long history is read before the erase's write transaction (so other
    # people's writes do not wait for it); rows stored in between are counted in it.
    from bot.memory import forgetting

    for n in range(3):
        await store.commit_turn(ADA, [{"role": "user", "content": f"hello {n}"}])
    db = store._db  # the store's one database (tests may look inside)
    async with db.reading() as conn:
        counted = await forgetting.count_visible(conn, str(ADA))
    assert counted[1] == 3
    await store.commit_turn(ADA, [{"role": "user", "content": "one more"}])
    async with db.writing(lock_user=str(ADA)) as conn:
        report = await forgetting.hide_person(conn, str(ADA), db.backend, store._search, counted)
    assert report.history_items == 4
    assert "one more" not in await everything(store, ADA)
