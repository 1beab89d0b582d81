"""Memory items on both back ends: stable numbers, notes (deduplicated, capped), forgetting one
item with its value redacted from history, paused memory, sources and timestamps, export."""

from __future__ import annotations

import json
from collections.abc import Callable

from chat_support import set_facts
from sqlalchemy import func, select
from test_store import turn

from bot.core.domain import MAX_NOTES, MemoryChange, MemorySource, UserKey
from bot.memory import SqlMemoryStore
from bot.memory.schema import agent_messages, memory_items

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
DISCORD_42 = UserKey.parse("discord:42")
U = UserKey.parse("u")


def note(text: str) -> MemoryChange:
    return MemoryChange("add", kind="note", value=text)


def numbered(store_memory) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    return [(i.number, i.kind, i.value) for i in store_memory.items]


async def row_counts(store: SqlMemoryStore) -> tuple[int, int]:
    async with store.engine.connect() as conn:
        messages = await conn.scalar(select(func.count()).select_from(agent_messages))
        items = await conn.scalar(select(func.count()).select_from(memory_items))
    return messages, items


async def test_name_city_and_notes_keep_their_numbers(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), set_facts(name="Ada", city="Lisbon"))
    await store.commit_turn(U, turn(2), [note("I'm vegetarian"), note("my dog is called Rex")])
    assert numbered(await store.memory(U)) == [
        (1, "name", "Ada"),
        (2, "city", "Lisbon"),
        (3, "note", "I'm vegetarian"),
        (4, "note", "my dog is called Rex"),
    ]
    assert (await store.forget_item(U, "3")) is not None
    # A correction keeps the number; a new note never reuses a forgotten one.
    await store.commit_turn(U, turn(3), [MemoryChange("set", kind="city", value="Porto")])
    await store.commit_turn(U, turn(4), [note("I work night shifts")])
    assert numbered(await store.memory(U)) == [
        (1, "name", "Ada"),
        (2, "city", "Porto"),
        (4, "note", "my dog is called Rex"),
        (5, "note", "I work night shifts"),
    ]
    assert (await store.memory(U)).facts() == {"name": "Ada", "city": "Porto"}


async def test_a_correction_reports_the_old_value(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), set_facts(city="Lisbon"))
    result = await store.commit_turn(U, turn(2), set_facts(city="Porto"))
    [change] = result.changes
    assert (change.action, change.kind, change.number) == ("set", "city", 1)
    assert (change.value, change.previous) == ("Porto", "Lisbon")
    unchanged = await store.commit_turn(U, turn(3), set_facts(city="Porto"))
    assert unchanged.changes == []


async def test_duplicate_notes_are_stored_once(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), [note("I'm vegetarian")])
    again = await store.commit_turn(U, turn(2), [note("i'm   VEGETARIAN"), note("I'm vegetarian")])
    assert again.changes == []
    assert numbered(await store.memory(U)) == [(1, "note", "I'm vegetarian")]


async def test_no_more_than_fifty_notes(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), [note(f"fact number {n}") for n in range(MAX_NOTES + 5)])
    notes = (await store.memory(U)).notes()
    assert len(notes) == MAX_NOTES
    assert notes[-1].value == f"fact number {MAX_NOTES - 1}"


async def test_forgetting_item_2_of_one_user_never_touches_anothers(store: SqlMemoryStore) -> None:
    for user in (ADA, BOB):
        await store.commit_turn(
            user,
            [{"role": "user", "content": "I live in Lisbon"}, *turn(1)],
            set_facts(name=user.id, city="Lisbon"),
        )
    bob_history = await store.all_items(BOB)
    change = await store.forget_item(ADA, "2")
    assert change is not None and (change.kind, change.value) == ("city", "Lisbon")
    assert numbered(await store.memory(BOB)) == [
        (1, "name", "bob"),
        (2, "city", "Lisbon"),
    ]
    assert await store.all_items(BOB) == bob_history
    assert await store.forget_item(ADA, "2") is None  # already gone
    assert await store.forget_item(ADA, "99") is None


async def test_forgetting_one_item_redacts_it_from_history_and_keeps_the_rest(
    store: SqlMemoryStore,
) -> None:
    value = "São Paulo"
    history = [
        {"role": "user", "content": "I moved to SÃO PAULO, near Adaline's place"},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "save_facts",
            # A model may escape non-ASCII inside the JSON of its arguments.
            "arguments": json.dumps({"city": value}),
            "status": "completed",
        },
        {
            "type": "function_call_output",
            "call_id": "c1",
            "output": '{"saved": {"city": "São Paulo"}}',
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "So you live in são paulo!", "annotations": []}
            ],
        },
    ]
    await store.commit_turn(U, history, set_facts(name="Ada", city=value))
    await store.commit_turn(U, turn(2), [note("my dog is called Rex")])
    change = await store.forget_item(U, "city")
    assert change is not None and change.redacted == 4
    stored = await store.all_items(U)
    text = json.dumps(stored, ensure_ascii=False)
    assert "paulo" not in text.lower()
    assert stored[0]["content"] == "I moved to [forgotten], near Adaline's place"
    assert json.loads(stored[1]["arguments"]) == {"city": "[forgotten]"}
    assert stored[3]["content"][0]["text"] == "So you live in [forgotten]!"
    # Everything else is as it was: other items, other turns.
    assert stored[4:] == turn(2)
    assert numbered(await store.memory(U)) == [
        (1, "name", "Ada"),
        (3, "note", "my dog is called Rex"),
    ]


async def test_a_turn_that_forgets_also_redacts_its_own_items(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, turn(1), [note("I'm vegetarian")])
    own = [
        {"role": "user", "content": "forget that I’m vegetarian"},
        {"type": "message", "role": "assistant", "content": "Done: I'm vegetarian is forgotten."},
    ]
    result = await store.commit_turn(
        U, own, [MemoryChange("forget", kind="note", value="I'm vegetarian", number=1)]
    )
    assert [c.action for c in result.changes] == ["forget"]
    assert result.items[0]["content"] == "forget that [forgotten]"
    assert (await store.all_items(U))[-2:] == result.items
    assert "vegetarian" not in json.dumps(await store.all_items(U))


async def test_paused_memory_stores_nothing_even_after_a_restart(
    open_memory: Callable[[], SqlMemoryStore],
) -> None:
    async with open_memory() as store:
        await store.commit_turn(U, turn(1), set_facts(name="Ada"))
        await store.set_paused(U, True)
        before = await row_counts(store)
    async with open_memory() as restarted:
        assert (await restarted.memory(U)).paused
        result = await restarted.commit_turn(
            U, turn(2), [MemoryChange("set", kind="city", value="Oslo"), note("a note")]
        )
        assert not result.stored and result.changes == [] and result.items == []
        assert await row_counts(restarted) == before
        # Forgetting still works while paused.
        assert await restarted.forget_item(U, "name") is not None
        await restarted.set_paused(U, False)
        assert (await restarted.commit_turn(U, turn(3), set_facts(city="Oslo"))).stored
        assert (await restarted.memory(U)).facts() == {"city": "Oslo"}


async def test_items_keep_their_source_and_times_and_export_has_them(
    store: SqlMemoryStore,
) -> None:
    link = "https://discord.com/channels/1/2/3"
    await store.commit_turn(
        DISCORD_42, turn(1), set_facts(city="Lisbon"), source=MemorySource("discord", link)
    )
    await store.commit_turn(DISCORD_42, turn(2), [note("I like tea")])
    [city, tea] = (await store.memory(DISCORD_42)).items
    assert (city.source.frontend, city.source.ref) == ("discord", link)
    assert (tea.source.frontend, tea.source.ref) == ("discord", None)  # from the key
    assert city.created_at.tzinfo is not None and city.updated_at >= city.created_at
    exported = json.loads(json.dumps(await store.export(DISCORD_42)))
    assert exported["memory_paused"] is False
    assert exported["memory"][0] == {
        "number": 1,
        "kind": "city",
        "value": "Lisbon",
        "created_at": exported["memory"][0]["created_at"],
        "updated_at": exported["memory"][0]["updated_at"],
        "source": {"frontend": "discord", "ref": link},
    }
    assert exported["memory"][0]["created_at"].endswith("+00:00")
    assert exported["memory"][1]["value"] == "I like tea"
    assert exported["facts"]["city"]["value"] == "Lisbon"
