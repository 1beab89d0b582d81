"""Arbitrary input never crashes a turn, never corrupts memory, and erased text is gone."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import unicodedata
from pathlib import Path

from agents.testing import ScriptedModel, assistant_message, function_call
from chat_support import make_service
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stored_turns import check_database

from bot.core.domain import UserKey
from bot.core.tools import clean_fact_value
from bot.memory import SqlMemoryStore

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
FUZZ = UserKey.parse("console:fuzz")
RT = UserKey.parse("console:rt")

DB_DIR = Path(tempfile.mkdtemp(prefix="bad-input-"))
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, prefix=st.sampled_from(["", "my name is ", "I live in ", "!history "]))
def test_any_unicode_through_the_offline_model(text: str, prefix: str) -> None:
    db = DB_DIR / "offline.db"

    async def run() -> None:
        async with SqlMemoryStore(db) as store:
            service = make_service(store)
            reply = await service.handle(FUZZ, prefix + text)
            assert isinstance(reply.text, str)
            for value in ((await store.memory(FUZZ)).facts()).values():
                assert value == clean_fact_value(value)  # stored values are already clean
                assert value and not any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in value)

    asyncio.run(run())
    check_database(db)  # integrity ok and every stored turn complete


@settings(max_examples=150, deadline=None)
@given(name=ANY_TEXT, city=ANY_TEXT)
def test_facts_round_trip_exactly_as_cleaned(name: str, city: str) -> None:
    db = DB_DIR / "facts.db"

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
                assert value in __import__("json").loads(read_output).values()

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
