"""Recall beyond the window (issue 18): everything a person said is searchable by them alone,
indexed with the turn, forgotten with the rest (index and file bytes included), on both back
ends; old files are indexed when they upgrade."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agents.testing import ScriptedModel, assistant_message, function_call
from chat_support import make_service
from fts5_pages import indexed_anywhere
from test_forgetting import traces

from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore, ranking, search

ADA = UserKey("console", "ada")
BOB = UserKey("console", "bob")
FIXTURES = Path(__file__).parent / "fixtures"


def said(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def replied(text: str) -> list[dict]:
    return [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
    ]


async def found(store: SqlMemoryStore, user: UserKey, query: str) -> list[str]:
    """What a search finds in the messages themselves (not their neighbours)."""
    return [hit.text for hit in await store.search(user, query, 10, matched_only=True)]


async def test_a_stored_turn_is_findable_and_a_failed_one_leaves_nothing(
    store: SqlMemoryStore,
) -> None:
    service = make_service(store)
    await service.turn(ADA, "remember that my sister Clara marries in March")
    assert "remember that my sister Clara marries in March" in await found(store, ADA, "sister")
    failing = ScriptedModel([RuntimeError("the model broke")])
    result = await make_service(store, failing).turn(ADA, "my zebrafish is called Ziggy")
    assert not result.ok
    assert await found(store, ADA, "zebrafish") == []


async def test_the_bots_replies_are_found_too(store: SqlMemoryStore) -> None:
    await store.commit_turn(ADA, said("any tips?") + replied("Try the Alfama viewpoint at dusk."))
    assert await found(store, ADA, "viewpoint") == ["Try the Alfama viewpoint at dusk."]
    [hit] = await store.search(ADA, "viewpoint", 1)
    assert hit.role == "assistant"
    # Without `matched_only` the question before the answer comes too: it gives the context.
    assert [h.text for h in await store.search(ADA, "viewpoint", 5)] == [
        "Try the Alfama viewpoint at dusk.",
        "any tips?",
    ]


async def test_a_search_never_returns_another_persons_rows(store: SqlMemoryStore) -> None:
    await store.commit_turn(ADA, said("my piano lesson is on Tuesday"))
    await store.commit_turn(BOB, said("my piano teacher moved to Oslo"))
    await store.commit_turn(BOB, said("piano piano piano"))
    assert await found(store, ADA, "piano lesson teacher Oslo") == ["my piano lesson is on Tuesday"]
    assert set(await found(store, BOB, "piano")) == {
        "my piano teacher moved to Oslo",
        "piano piano piano",
    }
    assert await found(store, UserKey("console", "eve"), "piano") == []


async def test_dates_are_kept_and_shown(store: SqlMemoryStore) -> None:
    may = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    await store.commit_turn(ADA, said("I went to a support group yesterday"), at=may)
    [hit] = await store.search(ADA, "when did I go to the support group?", 1)
    assert hit.said_at == may and hit.role == "user"


async def test_paused_memory_indexes_nothing(store: SqlMemoryStore) -> None:
    await store.set_paused(ADA, True)
    result = await store.commit_turn(ADA, said("my secret pasta sauce uses anchovies"))
    assert not result.stored
    assert await found(store, ADA, "anchovies") == []


async def test_forgetting_everything_empties_the_index_and_the_file(
    store: SqlMemoryStore, backend: str, db_path: Path
) -> None:
    for n in range(30):
        await store.commit_turn(ADA, said(f"turn {n}: the Quibbleton marathon") + replied("ok"))
    await store.commit_turn(BOB, said("I run the Lisbon half marathon"))
    report = await store.forget(ADA)
    assert report.pending is None
    assert await found(store, ADA, "Quibbleton marathon") == []
    assert await found(store, BOB, "marathon") == ["I run the Lisbon half marathon"]
    await store.commit_turn(ADA, said("a fresh start"))  # a new history, a new index range
    assert await found(store, ADA, "fresh") == ["a fresh start"]
    assert await found(store, ADA, "Quibbleton") == []
    if backend == "sqlite":
        await store.erase_complete()
        assert traces(db_path, "Quibbleton") == []
        assert indexed_anywhere(db_path, "Quibbleton") == []
        assert indexed_anywhere(db_path, "Lisbon") == ["Lisbon"]  # Bob's stays


async def test_forgetting_an_item_takes_it_out_of_the_index_and_its_context(
    store: SqlMemoryStore, backend: str, db_path: Path
) -> None:
    service = make_service(store)
    await service.turn(ADA, "I live in Zanzibarville")
    await service.turn(ADA, "hello there")  # its context column held the city
    await service.turn(ADA, "the weather is fine")
    assert await found(store, ADA, "Zanzibarville")
    await store.forget_item(ADA, "city")
    assert await found(store, ADA, "Zanzibarville") == []
    assert "I live in [forgotten]" in await found(store, ADA, "live")
    if backend == "sqlite":
        await store.erase_complete()
        assert traces(db_path, "Zanzibarville") == []
        assert indexed_anywhere(db_path, "Zanzibarville") == []
        assert indexed_anywhere(db_path, "weather") == ["weather"]


@pytest.mark.parametrize(
    ("fixture", "user", "word"),
    [("memory-v0.1.db", UserKey("discord", "42"), "Porto"), ("memory-v3.db", ADA, "dog")],
)
async def test_an_upgraded_file_finds_every_old_message(
    tmp_path: Path, fixture: str, user: UserKey, word: str
) -> None:
    db = tmp_path / "memory.db"
    shutil.copyfile(FIXTURES / fixture, db)
    async with SqlMemoryStore(db) as store:
        history = await store.all_items(user)
        texts = [
            item["content"] if isinstance(item["content"], str) else item["content"][0]["text"]
            for item in history
            if item.get("role") in ("user", "assistant")
            and item.get("type", "message") == "message"
        ]
        assert texts
        for text in texts:
            # Every message is found by its own words.
            assert text.strip() in [t.strip() for t in await found(store, user, text)]
        assert any(word in t for t in await found(store, user, word))


async def test_the_offline_model_recalls_what_was_said_thirty_turns_ago(
    store: SqlMemoryStore,
) -> None:
    service = make_service(store, history_window=10)
    march = datetime(2023, 3, 14, 10, 0, tzinfo=UTC)
    await store.commit_turn(
        ADA,
        said("my sister's wedding is in Sintra in June") + replied("How lovely!"),
        at=march,
    )
    for n in range(30):
        await service.turn(ADA, f"hello {n}")
    window = (await store.recent_items(ADA, 10)).items
    assert not any("Sintra" in json.dumps(item) for item in window)  # outside the window
    result = await service.turn(ADA, "what did I say about my sister's wedding?")
    assert result.reply == "On 14 March 2023 you said: “my sister's wedding is in Sintra in June”"
    [call] = [i for i in result.added if i.get("type") == "function_call"]
    assert call["name"] == "search_history"
    # Asked again, the earlier question (now in the index too) is not the answer.
    again = await service.turn(ADA, "what did I say about my sister's wedding?")
    assert again.reply == result.reply
    nothing = await service.turn(ADA, "did I ever mention a trip to Nairobi?")
    assert nothing.reply == "I can't find anything you said about a trip to Nairobi."
    asked = await service.turn(ADA, "did I ever mention a trip to Nairobi?")
    assert asked.reply == nothing.reply  # not "you said: did I ever mention a trip…"
    # Forgotten, the message is not found; nor is the "hello" next to an earlier question.
    await store.commit_turn(ADA, said("hello again") + replied("Hi!"))
    assert (await service.handle(ADA, "!forget")).text.startswith("Done.")
    await service.turn(ADA, "hello 31")
    await service.turn(ADA, "what did I say about my sister's wedding?")
    await service.turn(ADA, "hello 32")
    gone = await service.turn(ADA, "what did I say about my sister's wedding?")
    assert gone.reply == "I can't find anything you said about my sister's wedding."


async def test_a_model_calling_search_history_gets_dated_bounded_matches(
    store: SqlMemoryStore,
) -> None:
    for n in range(40):
        await store.commit_turn(
            ADA,
            said(f"note {n}: " + "the lighthouse keeper " * 30),
            at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n),
        )
    model = ScriptedModel(
        [
            [function_call("search_history", {"query": "lighthouse", "limit": 10}, call_id="s1")],
            [assistant_message("found it")],
        ]
    )
    result = await make_service(store, model).turn(ADA, "what about the lighthouse?")
    [output] = [i["output"] for i in result.added if i.get("type") == "function_call_output"]
    assert len(output) <= 2_000
    matches = json.loads(output)["matches"]
    assert matches and all(m["who"] == "user" and m["date"].startswith("2024-") for m in matches)
    model.assert_complete()


async def test_an_unreadable_index_structure_falls_back_to_optimize(
    sqlite_store: SqlMemoryStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A newer SQLite may write FTS5's structure record in a form this code does not read:
    # the merge then takes one 'optimize', and the forgotten word is still gone.
    from bot.memory import fts_merge

    def unreadable(record: bytes) -> list:
        raise ValueError("not the FTS5 structure format this bot reads")

    monkeypatch.setattr(fts_merge, "levels", unreadable)
    service = make_service(sqlite_store)
    for n in range(5):
        await service.turn(ADA, f"I live in Quorravale, part {n}")
    await sqlite_store.forget_item(ADA, "city")
    await sqlite_store.erase_complete()
    assert indexed_anywhere(db_path, "Quorravale") == []
    assert traces(db_path, "Quorravale") == []


def test_the_structure_record_reader_knows_its_format() -> None:
    from bot.memory.fts_merge import Level, levels

    # A record as SQLite 3.40 writes it: cookie, 2 levels, 3 segments, write counter; level
    # 0 has no merge and two segments, level 1 a merge of 1 input and one segment.
    record = bytes([0, 0, 0, 7, 2, 3, 9, 0, 2, 1, 1, 1, 2, 2, 2, 1, 1, 3, 3, 3])
    assert levels(record) == [Level(0, 2), Level(1, 1)]
    with pytest.raises(ValueError):
        levels(record + b"\x01")  # trailing bytes: not this format
    with pytest.raises(ValueError):
        levels(b"\x00\x00\x00\x07\xff\x00\x00\x01\x00")  # the newer (3.43+) header


async def test_a_long_history_is_searched_by_its_rarest_words(
    sqlite_store: SqlMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A history longer than the row budget: only the words that fit it select and score.
    monkeypatch.setattr(search, "ROW_BUDGET", 20)
    for n in range(60):
        extra = " and the harbour ferry" if n in (7, 41) else ""
        await sqlite_store.commit_turn(ADA, said(f"weather note {n}: rain again{extra}"))
        await sqlite_store.commit_turn(BOB, said(f"weather at the harbour ferry {n}"))
    assert sorted(await found(sqlite_store, ADA, "rain weather harbour ferry")) == [
        "weather note 41: rain again and the harbour ferry",
        "weather note 7: rain again and the harbour ferry",
    ]
    # Every word is in more messages than the budget: the newest of them, nobody else's.
    monkeypatch.setattr(ranking, "CANDIDATES", 20)  # a long history's: 10
    newest = await found(sqlite_store, ADA, "rain weather")
    assert sorted(newest) == sorted(f"weather note {n}: rain again" for n in range(50, 60))
