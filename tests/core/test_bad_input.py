"""Arbitrary input never crashes a turn, never corrupts memory, and erased text is gone."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from agents.testing import ScriptedModel, assistant_message, function_call
from chat_support import make_service
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stored_turns import check_database

from bot.core.domain import UserKey, is_user_message, message_text
from bot.core.text import clean_text
from bot.core.tools import clean_fact_value
from bot.memory import SqlMemoryStore

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
FUZZ = UserKey.parse("console:fuzz")
RT = UserKey.parse("console:rt")

ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the files the examples of a property share (made when a test runs)."""
    return tmp_path_factory.mktemp("bad-input")


def assert_valid_text(text: str) -> None:
    text.encode("utf-8")  # no lone surrogate
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=ANY_TEXT, prefix=st.sampled_from(["", "my name is ", "I live in ", "!history "]))
def test_any_unicode_through_the_offline_model(db_dir: Path, text: str, prefix: str) -> None:
    db = db_dir / "offline.db"
    line = prefix + text
    typed = clean_text(line).strip()

    async def run() -> None:
        async with SqlMemoryStore(db) as store:
            service = make_service(store)
            before = await store.all_items(FUZZ)
            reply = await service.handle(FUZZ, line)
            after = await store.all_items(FUZZ)
            assert reply.text.strip(), repr(line)  # always an answer
            assert_valid_text(reply.text)
            if reply.is_command or not typed:
                assert after == before  # a command (or nothing said) stores nothing
            else:
                # A turn: stored whole, starting with exactly what was typed, cleaned.
                added = after[len(before) :]
                assert after[: len(before)] == before and added == reply.added
                assert is_user_message(added[0]) and message_text(added[0]) == typed
                assert message_text(added[-1]) == reply.text
            for value in ((await store.memory(FUZZ)).facts()).values():
                assert value == clean_fact_value(value)  # stored values are already clean
                assert value and not any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in value)

    asyncio.run(run())
    check_database(db)  # integrity ok and every stored turn complete


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=ANY_TEXT, city=ANY_TEXT)
def test_facts_round_trip_exactly_as_cleaned(db_dir: Path, name: str, city: str) -> None:
    db = db_dir / "facts.db"

    async def run() -> None:
        async with SqlMemoryStore(db) as store:
            await store.forget(RT)
            model = ScriptedModel(
                [
                    [function_call("save_facts", {"name": name, "city": city}, call_id="c1")],
                    [function_call("read_facts", {}, call_id="c2")],
                    [assistant_message("ok")],
                ]
            )
            result = await make_service(store, model).turn(RT, "remember")
            assert result.ok
            expected = {
                fact: clean_fact_value(value)
                for fact, value in (("name", name), ("city", city))
                if clean_fact_value(value)
            }
            assert (await store.memory(RT)).facts() == expected
            read_output = [i for i in result.added if i.get("call_id") == "c2"][-1]["output"]
            for value in expected.values():
                assert value in json.loads(read_output).values()

    asyncio.run(run())


async def test_forget_leaves_no_readable_copy_in_the_file(db_path: Path) -> None:
    secret = "Zyxwvut-Very-Private-Town"
    async with SqlMemoryStore(db_path) as store:
        service = make_service(store)
        await service.turn(ADA, f"I live in {secret}")
        await service.turn(BOB, "I live in Porto")
        assert secret in (await service.commands.history(ADA))
        await service.commands.forget(ADA)
        with sqlite3.connect(db_path) as conn:
            dump = "\n".join(conn.iterdump())
        assert secret not in dump  # not readable through SQL
        # Nor in the raw bytes: freed pages are zeroed and the WAL is emptied.
        raw = b"".join(
            p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)
        )
        assert secret.encode() not in raw
        assert "Porto" in await service.commands.history(BOB)
