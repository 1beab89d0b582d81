"""Issue 10 in the core: storage failing, bounded items and replies, text that is not valid
Unicode, empty answers, and progress display that never eats the model's time limit."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from chat_support import make_service, set_facts
from openai import AsyncOpenAI
from openai_server import FakeOpenAIServer, Reply

from bot.core.domain import UserKey, message_text
from bot.core.store import MemoryStore, StoreFull
from bot.core.text import EMPTY_ANSWER, MAX_REPLY_CHARS, MAX_STORED_TOOL_CHARS
from bot.core.tools import clean_fact_value

USER = UserKey("console", "ada")


class FullStore:
    """A real store whose writes fail with StoreFull while `full` is set (a full disk)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.full = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def commit_turn(self, *args: Any, **kwargs: Any) -> Any:
        if self.full:
            raise StoreFull("the disk holding memory.db is full: free space on it")
        return await self._store.commit_turn(*args, **kwargs)

    async def forget(self, *args: Any, **kwargs: Any) -> Any:
        if self.full:
            raise StoreFull("the disk holding memory.db is full: free space on it")
        return await self._store.forget(*args, **kwargs)


def storage_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_full_storage_says_so_logs_once_and_commands_keep_working(
    sqlite_store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await sqlite_store.commit_turn(
        USER, [{"role": "user", "content": "hi"}], set_facts(city="Lisbon")
    )
    full = FullStore(sqlite_store)
    model = ScriptedModel([[assistant_message(f"answer {n}")] for n in range(4)])
    service = make_service(full, model)  # type: ignore[arg-type]

    first = await service.handle(USER, "My name is Ada")
    second = await service.handle(USER, "I live in Porto")
    expected = (
        "Sorry, I can't remember anything new right now: the bot's storage is full. That's "
        "for the bot's operator to fix, not you. Nothing from this message was stored."
    )
    assert first.text == expected and second.text == expected
    # Reads still work: history and export answer as usual.
    history = await service.handle(USER, "!history")
    assert "city: Lisbon" in history.text and "[you] hi" in history.text
    assert json.loads((await service.handle(USER, "!export")).text)["user"] == str(USER)
    # Forgetting cannot work, and says so instead of raising.
    forget = await service.handle(USER, "!forget")
    assert forget.text == (
        "Sorry, I couldn't erase your memory: the bot's storage is full. That's for the "
        "bot's operator to fix, not you; please try again later."
    )
    # One log line for the whole episode, with the store's own sentence and no traceback.
    [logged] = storage_errors(caplog)
    assert logged.getMessage().startswith(
        "memory storage failed: the disk holding memory.db is full: free space on it"
    )
    assert logged.exc_info is None

    full.full = False
    assert (await service.handle(USER, "hello")).text == "answer 2"
    assert "memory storage works again" in caplog.text
    full.full = True
    await service.handle(USER, "again")
    assert len(storage_errors(caplog)) == 2  # a new episode is logged again


async def test_a_huge_tool_argument_is_neither_stored_nor_resent(sqlite_store: MemoryStore) -> None:
    huge = "A" * 1_000_000
    seen: list[int] = []

    async def measure(call: ModelCall) -> list:
        seen.append(len(json.dumps(call.input)))
        return [assistant_message("ok")]

    model = ScriptedModel(
        [
            [function_call("save_facts", {"name": huge}, call_id="c1")],
            [assistant_message("Saved.")],
            ModelStep.respond(measure),
        ]
    )
    service = make_service(sqlite_store, model)
    first = await service.turn(USER, "my name is A...")
    assert first.ok
    [call] = [i for i in first.added if i.get("type") == "function_call"]
    assert len(call["arguments"]) <= MAX_STORED_TOOL_CHARS
    assert json.loads(call["arguments"])["truncated"] == "1,000,011 characters"
    stored = await sqlite_store.all_items(USER)
    assert stored == first.added
    assert len(json.dumps(stored)) < 5 * MAX_STORED_TOOL_CHARS

    assert (await service.turn(USER, "and now?")).reply == "ok"
    # The later turn's request carries the short note, not the megabyte.
    assert seen[0] < 5 * MAX_STORED_TOOL_CHARS
    model.assert_complete()


async def test_a_long_answer_is_cut_and_says_so(sqlite_store: MemoryStore) -> None:
    answer = "word " * 20_000  # 100,000 characters
    service = make_service(sqlite_store, ScriptedModel([[assistant_message(answer)]]))
    result = await service.turn(USER, "talk a lot")
    assert result.ok
    assert result.reply.endswith("\n… (answer cut: it was 99,999 characters; the limit is 12,000)")
    assert len(result.reply) < MAX_REPLY_CHARS + 80
    stored = await sqlite_store.all_items(USER)
    assert message_text(stored[-1]) == result.reply


async def test_lone_surrogates_from_model_or_input_never_fail_a_turn(
    sqlite_store: MemoryStore,
) -> None:
    model = ScriptedModel(
        [
            [
                function_call(
                    "save_facts", {"name": "Ada\ud800", "city": "Li\udfffsbon"}, call_id="c1"
                )
            ],
            [assistant_message("Hi \ud83d Ada")],
        ]
    )
    service = make_service(sqlite_store, model)
    result = await service.turn(USER, "I'm Ada \udcff from Lisbon")
    assert result.ok, result.reply
    assert result.reply == "Hi \ufffd Ada"
    # Cleaned where the model's output enters (a raw surrogate in the arguments) ...
    assert (await sqlite_store.memory(USER)).facts() == {
        "name": "Ada\ufffd",
        "city": "Li\ufffdsbon",
    }
    stored = await sqlite_store.all_items(USER)
    assert message_text(stored[0]) == "I'm Ada \ufffd from Lisbon"
    # Everything stored is valid text.
    json.dumps(stored, ensure_ascii=False).encode("utf-8")
    # ... and where a tool stores a value (an escaped surrogate in the arguments' JSON).
    assert clean_fact_value("Ada\ud800 \udfff") == "Ada"


@pytest.mark.parametrize("empty", ["", "   \n\t "])
async def test_an_empty_answer_stores_a_whole_turn_with_a_placeholder(
    sqlite_store: MemoryStore, empty: str
) -> None:
    model = ScriptedModel(
        [
            [assistant_message(empty)],
            [function_call("save_facts", {"name": "Ada"}, call_id="c1")],
            [assistant_message(empty)],
        ]
    )
    service = make_service(sqlite_store, model)
    plain = await service.turn(USER, "hello")
    assert plain.reply == EMPTY_ANSWER
    assert [message_text(i) for i in plain.added] == ["hello", EMPTY_ANSWER]
    with_tool = await service.turn(USER, "I'm Ada")
    assert with_tool.reply == EMPTY_ANSWER
    kinds = [i.get("type", "message") for i in with_tool.added]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    assert message_text(with_tool.added[-1]) == EMPTY_ANSWER
    assert await sqlite_store.all_items(USER) == plain.added + with_tool.added


async def test_a_slow_progress_sink_never_turns_an_answer_into_a_timeout(
    sqlite_store: MemoryStore,
) -> None:
    timeout = 1.0
    shown: list[str] = []

    async def slow_sink(delta: str) -> None:
        if not shown:
            # A rate-limited Discord edit: far longer than the whole turn may take.
            await asyncio.sleep(timeout * 3)
        shown.append(delta)

    with FakeOpenAIServer() as server:
        server.enqueue(Reply("hello there, Ada", chunk_size=4))
        client = AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
        model = OpenAIChatCompletionsModel(model="test-model", openai_client=client)
        service = make_service(sqlite_store, model, model_timeout_s=timeout, stream=True)
        result = await service.turn(USER, "hi", on_text=slow_sink)
        await client.close()
    assert result.ok, result.reply
    assert result.reply == "hello there, Ada"
    assert "".join(shown) == "hello there, Ada"
    assert [message_text(i) for i in await sqlite_store.all_items(USER)] == [
        "hi",
        "hello there, Ada",
    ]
