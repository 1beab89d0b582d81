"""`!history` pages of whole turns, by kept positions and item ids: the same few indexed
reads at any depth (no count, no OFFSET), and exactly the right turns on every page, on both
back ends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from stored_turns import expected_page

from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore
from bot.memory.history import PAGE_READ
from bot.memory.schema import MARK_STRIDE

OTHER = UserKey.parse("other")
U = UserKey.parse("u")


def tool_turn(n: int, calls: int) -> list[dict[str, Any]]:
    """A turn of 2 + 2 × `calls` items: the message, each call with its output, the reply."""
    items: list[dict[str, Any]] = [{"role": "user", "content": f"question {n}"}]
    for c in range(calls):
        call_id = f"c{n}-{c}"
        items.append({"type": "function_call", "call_id": call_id, "name": "t", "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": call_id, "output": f"o{n}"})
    items.append({"role": "assistant", "content": f"answer {n}"})
    return items


@pytest.mark.parametrize("per_page", [1, 2, 3, MARK_STRIDE, MARK_STRIDE + 1])
async def test_every_page_holds_whole_turns(store: SqlMemoryStore, per_page: int) -> None:
    stored: list[dict[str, Any]] = []
    # Turns of uneven sizes (up to 42 items, beyond one read), one commit of several turns.
    sizes = [0, 1, 3, 0, 20, 2, 1, 0, 0, 5, 1, 1, 0, 2]
    for n, calls in enumerate(sizes):
        await store.commit_turn(U, tool_turn(n, calls))
        stored += tool_turn(n, calls)
    several = tool_turn(90, 1) + tool_turn(91, 0)
    await store.commit_turn(U, several)
    stored += several
    await store.commit_turn(OTHER, tool_turn(0, 2))  # interleaved ids of another user
    turns = len(sizes) + 2
    pages = -(-turns // per_page)
    for page in range(1, pages + 1):
        got = await store.history_page(U, page, per_page)
        assert got.items == expected_page(stored, page, per_page), page
        assert (got.page, got.pages, got.total, got.turns) == (page, pages, len(stored), turns)
        assert got.last_turn == turns - (page - 1) * per_page
        assert got.first_turn == max(1, got.last_turn - per_page + 1)
        # Every tool call is on the page of its output.
        calls = {i["call_id"] for i in got.items if i.get("type") == "function_call"}
        outputs = {i["call_id"] for i in got.items if i.get("type") == "function_call_output"}
        assert calls == outputs
    beyond = await store.history_page(U, pages + 1, per_page)
    assert beyond.items == [] and beyond.turns == turns


async def test_a_history_not_starting_at_a_message_typed_pages_from_its_first_item(
    store: SqlMemoryStore,
) -> None:
    # What another program may have written first: a reply before any message typed.
    head = [{"role": "assistant", "content": "welcome"}]
    await store.commit_turn(U, head)
    await store.commit_turn(U, tool_turn(1, 1))
    assert (await store.history_page(U, 2, 1)).items == head
    assert (await store.history_page(U, 1, 1)).items == tool_turn(1, 1)


async def test_a_deep_page_costs_what_the_first_page_costs(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, [item for n in range(1000) for item in tool_turn(n, 1)])
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        first = await store.history_page(U, 1, 3)
        first_statements, statements[:] = list(statements), []
        deep = await store.history_page(U, 300, 3)
        deep_statements = list(statements)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)
    assert first.items == [i for n in range(997, 1000) for i in tool_turn(n, 1)]
    assert deep.items == [i for n in range(100, 103) for i in tool_turn(n, 1)]
    assert len(deep_statements) == len(first_statements)
    for statement, parameters in first_statements + deep_statements:
        if "OFFSET" in statement.upper():
            # SQLite's dialect renders every LIMIT as "LIMIT ? OFFSET ?": the offset is 0.
            assert statement.upper().endswith("LIMIT ? OFFSET ?") and parameters[-1] == 0
        assert "COUNT(" not in statement.upper()
        # No read fetches more than one page read's rows, whatever the depth.
        if "LIMIT" in statement.upper():
            values = list(parameters.values() if isinstance(parameters, dict) else parameters)
            limit = values[-2] if statement.upper().endswith("OFFSET ?") else values[-1]
            assert limit <= PAGE_READ
