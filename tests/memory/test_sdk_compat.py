"""The SDK's own session classes and the bot share history, in both directions, on both back
ends: `SQLiteSession(user_key, path)` on the SQLite file, `SQLAlchemySession` on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from agents import SQLiteSession
from agents.extensions.memory import SQLAlchemySession
from agents.memory import SessionABC
from chat_support import set_facts
from sqlalchemy import text
from test_store import turn

from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
OURS = UserKey.parse("ours")
U = UserKey.parse("u")


@contextlib.asynccontextmanager
async def sdk_session(
    store: SqlMemoryStore, memory_target: str | Path, user_key: str
) -> AsyncIterator[SessionABC]:
    """The SDK's session for this back end, as an application using the SDK alone opens it."""
    if store.dialect == "sqlite":
        session = SQLiteSession(user_key, memory_target)
        try:
            yield session
        finally:
            session.close()
    else:
        yield SQLAlchemySession(user_key, engine=store.engine)


async def test_the_sdk_reads_what_the_bot_wrote(
    store: SqlMemoryStore, memory_target: str | Path
) -> None:
    await store.commit_turn(ADA, turn(1, with_call=True), set_facts(name="Ada"))
    await store.commit_turn(ADA, turn(2))
    async with sdk_session(store, memory_target, "console:ada") as sdk:
        assert await sdk.get_items() == turn(1, with_call=True) + turn(2)
        assert await sdk.get_items(limit=2) == turn(2)


async def test_the_bot_reads_what_the_sdk_wrote(
    store: SqlMemoryStore, memory_target: str | Path
) -> None:

    # A user the bot has never seen, and one whose kept positions the SDK's rows outdate.
    await store.commit_turn(BOB, turn(0))
    assert (await store.history_page(BOB, 1, 10)).total == 2
    for user in ("console:ada", "console:bob"):
        async with sdk_session(store, memory_target, user) as sdk:
            await sdk.add_items(turn(1, with_call=True))
            await sdk.add_items(turn(2))
    assert await store.all_items(ADA) == turn(1, with_call=True) + turn(2)
    assert (await store.recent_items(ADA, 1)).items == turn(2)
    page = await store.history_page(BOB, 1, 1)  # one whole turn a page
    assert (page.total, page.turns, page.pages) == (8, 3, 3)
    assert page.items == turn(2)
    assert (await store.history_page(BOB, 2, 1)).items == turn(1, with_call=True)
    assert (await store.history_page(BOB, 3, 1)).items == turn(0)
    assert (await store.export(ADA))["history"] == turn(1, with_call=True) + turn(2)
    # The bot's next turn follows the SDK's rows, and positions stay right.
    await store.commit_turn(BOB, turn(3))
    page = await store.history_page(BOB, 1, 2)
    assert (page.total, page.turns, page.items) == (10, 4, turn(2) + turn(3))


async def test_pages_follow_the_sdk_taking_items_back(
    store: SqlMemoryStore, memory_target: str | Path
) -> None:
    for n in range(3):
        await store.commit_turn(U, turn(n))
    async with sdk_session(store, memory_target, "u") as sdk:
        assert await sdk.pop_item() == turn(2)[-1]
        assert await sdk.pop_item() == turn(2)[0]
    page = await store.history_page(U, 1, 1)
    assert (page.total, page.turns, page.items) == (4, 2, turn(1))
    await store.commit_turn(U, turn(5))
    assert (await store.history_page(U, 1, 1)).items == turn(5)
    assert (await store.history_page(U, 2, 2)).items == turn(0)
    assert await store.all_items(U) == turn(0) + turn(1) + turn(5)


async def test_rows_are_exactly_what_the_sdk_writes(
    store: SqlMemoryStore, memory_target: str | Path
) -> None:
    await store.commit_turn(OURS, turn(1, with_call=True))
    async with sdk_session(store, memory_target, "sdk") as sdk:
        await sdk.add_items(turn(1, with_call=True))
    async with store.engine.connect() as conn:
        rows = {
            key: (
                await conn.execute(
                    text(
                        "SELECT message_data FROM agent_messages WHERE session_id = :k ORDER BY id"
                    ),
                    {"k": key},
                )
            )
            .scalars()
            .all()
            for key in ("ours", "sdk")
        }
        sessions = (
            (await conn.execute(text("SELECT session_id FROM agent_sessions ORDER BY 1")))
            .scalars()
            .all()
        )
    assert rows["ours"] == rows["sdk"]
    assert "\\u2713" in rows["ours"][0]  # the SDK's ensure_ascii serialisation
    assert sessions == ["ours", "sdk"]
