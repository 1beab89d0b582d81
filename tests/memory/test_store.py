"""What every store does, on both back ends (SQLite file, real PostgreSQL server)."""

from __future__ import annotations

import json
from collections.abc import Callable

from chat_support import set_facts

from bot.core.domain import UserKey
from bot.core.session import TurnSession
from bot.core.store import MemoryStore

CONSOLE_1 = UserKey.parse("console:1")
ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
DISCORD_1 = UserKey.parse("discord:1")
U = UserKey.parse("u")


def turn(n: int, *, with_call: bool = False) -> list[dict]:
    items: list[dict] = [{"role": "user", "content": f"user {n} ✓"}]
    if with_call:
        items += [
            {"type": "function_call", "call_id": f"c{n}", "name": "read_facts", "arguments": "{}"},
            {"type": "function_call_output", "call_id": f"c{n}", "output": "{}"},
        ]
    items.append(
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": f"bot {n}", "annotations": []}],
        }
    )
    return items


async def test_history_and_facts_survive_a_new_store_instance(
    open_memory: Callable[[], MemoryStore],
) -> None:

    async with open_memory() as store:
        await store.commit_turn(ADA, turn(1, with_call=True), set_facts(name="Ada"))
    async with open_memory() as again:
        assert (await again.memory(ADA)).facts() == {"name": "Ada"}
        items = await again.all_items(ADA)
        assert items == turn(1, with_call=True)


async def test_users_are_isolated(store: MemoryStore) -> None:
    await store.commit_turn(DISCORD_1, turn(1), set_facts(city="Lisbon"))
    await store.commit_turn(CONSOLE_1, turn(2), set_facts(city="Porto"))
    assert (await store.memory(DISCORD_1)).facts() == {"city": "Lisbon"}
    assert (await store.memory(CONSOLE_1)).facts() == {"city": "Porto"}
    assert await store.all_items(DISCORD_1) == turn(1)


async def test_forget_removes_history_and_facts_and_reports_them(store: MemoryStore) -> None:
    await store.commit_turn(ADA, turn(1, with_call=True), set_facts(name="Ada", city="X"))
    await store.commit_turn(BOB, turn(2), set_facts(name="Bob"))
    report = await store.forget(ADA)
    assert report.history_items == 4
    assert report.facts == {"name": "Ada", "city": "X"}
    assert (await store.memory(ADA)).facts() == {}
    assert await store.all_items(ADA) == []
    assert (await store.history_page(ADA, 1, 10)).total == 0
    assert (await store.memory(BOB)).facts() == {"name": "Bob"}
    assert (await store.forget(ADA)).empty


async def test_export_holds_facts_and_history_as_json(store: MemoryStore) -> None:
    await store.commit_turn(ADA, turn(1), set_facts(name="Ada"))
    exported = json.loads(json.dumps(await store.export(ADA)))
    assert exported["user"] == "console:ada"
    assert exported["facts"]["name"]["value"] == "Ada"
    assert exported["history"] == turn(1)


async def test_history_pages_newest_first(store: MemoryStore) -> None:
    for n in range(5):
        await store.commit_turn(U, turn(n))
    first = await store.history_page(U, 1, 2)  # two whole turns a page
    assert (first.page, first.pages, first.total, first.turns) == (1, 3, 10, 5)
    assert (first.first_turn, first.last_turn) == (4, 5)
    assert first.items == turn(3) + turn(4)
    last = await store.history_page(U, 3, 2)
    assert (last.items, last.first_turn, last.last_turn) == (turn(0), 1, 1)


async def test_recent_items_keeps_whole_turns(store: MemoryStore) -> None:
    for n in range(6):
        await store.commit_turn(U, turn(n, with_call=n % 2 == 0))
    recent = (await store.recent_items(U, 2)).items
    assert recent == turn(4, with_call=True) + turn(5)
    assert (await store.recent_items(U, 100)).items == await store.all_items(U)


async def test_turn_session_buffers_until_commit(store: MemoryStore) -> None:
    await store.commit_turn(U, turn(1))
    session = TurnSession(store, "u", 10)
    await session.add_items(turn(2))
    assert await session.get_items() == turn(1) + turn(2)
    assert await session.pop_item() == turn(2)[-1]
    # Nothing reached the file until the turn is committed.
    assert await store.all_items(U) == turn(1)
