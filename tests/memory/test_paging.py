"""`!history` pages by kept positions and item ids: the same few indexed reads at any depth
(no count, no OFFSET), and exactly the right items on every page, on both back ends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore
from bot.memory.schema import MARK_STRIDE

OTHER = UserKey.parse("other")
U = UserKey.parse("u")


def items(first: int, count: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"item {n}"} for n in range(first, first + count)]


@pytest.mark.parametrize("per_page", [1, 3, 10, MARK_STRIDE, MARK_STRIDE + 1])
async def test_every_page_holds_exactly_its_items(store: SqlMemoryStore, per_page: int) -> None:
    stored: list[dict[str, Any]] = []
    for size in (5, 1, 17, 40):  # turns of uneven sizes, across several marks
        await store.commit_turn(U, items(len(stored), size))
        stored += items(len(stored), size)
    await store.commit_turn(OTHER, items(0, 7))  # interleaved ids of another user
    total = len(stored)
    pages = -(-total // per_page)
    for page in range(1, pages + 1):
        got = await store.history_page(U, page, per_page)
        end = total - (page - 1) * per_page
        assert got.items == stored[max(0, end - per_page) : end], page
        assert (got.page, got.pages, got.total) == (page, pages, total)
    beyond = await store.history_page(U, pages + 1, per_page)
    assert beyond.items == [] and beyond.total == total


async def test_a_deep_page_costs_what_the_first_page_costs(store: SqlMemoryStore) -> None:
    await store.commit_turn(U, items(0, 3000))
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        first = await store.history_page(U, 1, 10)
        first_statements, statements[:] = list(statements), []
        deep = await store.history_page(U, 299, 10)
        deep_statements = list(statements)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)
    assert first.items == items(2990, 10)
    assert deep.items == items(10, 10)
    assert len(deep_statements) == len(first_statements)
    for statement, parameters in first_statements + deep_statements:
        if "OFFSET" in statement.upper():
            # SQLite's dialect renders every LIMIT as "LIMIT ? OFFSET ?": the offset is 0.
            assert statement.upper().endswith("LIMIT ? OFFSET ?") and parameters[-1] == 0
        assert "COUNT(" not in statement.upper()
        # No read fetches more than a page plus the distance to the nearest mark.
        values = parameters.values() if isinstance(parameters, dict) else parameters
        assert all(v <= 10 + MARK_STRIDE for v in values if isinstance(v, int) and v < 1000)
