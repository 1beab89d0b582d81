"""What every store does, on both back ends (SQLite file, real PostgreSQL server)."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.memory import MemoryStore, TurnSession


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
        await store.commit_turn("console:ada", turn(1, with_call=True), {"name": "Ada"})
    async with open_memory() as again:
        assert await again.facts("console:ada") == {"name": "Ada"}
        items = await again.all_items("console:ada")
        assert items == turn(1, with_call=True)


async def test_users_are_isolated(store: MemoryStore) -> None:
    await store.commit_turn("discord:1", turn(1), {"city": "Lisbon"})
    await store.commit_turn("console:1", turn(2), {"city": "Porto"})
    assert await store.facts("discord:1") == {"city": "Lisbon"}
    assert await store.facts("console:1") == {"city": "Porto"}
    assert await store.all_items("discord:1") == turn(1)


async def test_forget_removes_history_and_facts_and_reports_them(store: MemoryStore) -> None:
    await store.commit_turn("console:ada", turn(1, with_call=True), {"name": "Ada", "city": "X"})
    await store.commit_turn("console:bob", turn(2), {"name": "Bob"})
    report = await store.forget("console:ada")
    assert report.history_items == 4
    assert report.facts == {"name": "Ada", "city": "X"}
    assert await store.facts("console:ada") == {}
    assert await store.all_items("console:ada") == []
    assert (await store.history_page("console:ada", 1, 10)).total == 0
    assert await store.facts("console:bob") == {"name": "Bob"}
    assert (await store.forget("console:ada")).empty


async def test_export_holds_facts_and_history_as_json(store: MemoryStore) -> None:
    await store.commit_turn("console:ada", turn(1), {"name": "Ada"})
    exported = json.loads(json.dumps(await store.export("console:ada")))
    assert exported["user"] == "console:ada"
    assert exported["facts"]["name"]["value"] == "Ada"
    assert exported["history"] == turn(1)


async def test_history_pages_newest_first(store: MemoryStore) -> None:
    for n in range(5):
        await store.commit_turn("u", turn(n), {})
    first = await store.history_page("u", 1, 4)
    assert (first.page, first.pages, first.total) == (1, 3, 10)
    assert [i["content"] for i in first.items if i["role"] == "user"] == ["user 3 ✓", "user 4 ✓"]
    last = await store.history_page("u", 3, 4)
    assert last.items == turn(0)


async def test_recent_items_keeps_whole_turns(store: MemoryStore) -> None:
    for n in range(6):
        await store.commit_turn("u", turn(n, with_call=n % 2 == 0), {})
    recent = await store.recent_items("u", 2)
    assert recent == turn(4, with_call=True) + turn(5)
    assert await store.recent_items("u", 100) == await store.all_items("u")


async def test_turn_session_buffers_until_commit(store: MemoryStore) -> None:
    await store.commit_turn("u", turn(1), {})
    session = TurnSession(store, "u", 10)
    await session.add_items(turn(2))
    assert await session.get_items() == turn(1) + turn(2)
    assert await session.pop_item() == turn(2)[-1]
    # Nothing reached the file until the turn is committed.
    assert await store.all_items("u") == turn(1)
