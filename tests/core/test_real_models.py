"""The real-model path: the real openai client and SDK models over real HTTP on 127.0.0.1,
against a scripted server, through the real chat service."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_support import set_facts
from openai import AsyncOpenAI
from openai_server import FakeOpenAIServer, Hang, Raw, Reply, Status, ToolCall, tool_outputs
from processes import bot_env, console

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.core.failures import quiet_sdk_model_errors
from bot.core.store import MemoryStore
from bot.memory import SqlMemoryStore
from bot.models import make_client, select_model
from bot.settings import Settings

A = UserKey.parse("console:a")
ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
ADA_4242 = UserKey.parse("console:ada-4242")
B = UserKey.parse("console:b")

SECRET_KEY = "sk-test-SECRET-do-not-leak-1234567890"
APIS = ["chat_completions", "responses"]


@pytest.fixture
def backend() -> str:
    # The model path does not depend on the store; the store tests cover both back ends.
    return "sqlite"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    # As the program does: failed model requests are logged once, by the chat service.
    quiet_sdk_model_errors()
    yield
    for client in OPEN_CLIENTS:
        await client.close()
    OPEN_CLIENTS.clear()


OPEN_CLIENTS: list[AsyncOpenAI] = []


def service_for(
    store: MemoryStore, server: FakeOpenAIServer, api: str, **overrides: object
) -> ChatService:
    settings = Settings(
        openai_base_url=server.base_url,
        openai_api_key=SECRET_KEY,
        openai_api=api,
        bot_model="test-model",
        **{"model_timeout_s": 10.0, "model_max_retries": 2, **overrides},
    )
    client = make_client(settings)
    OPEN_CLIENTS.append(client)
    return ChatService(store, select_model(settings, client), ChatConfig.from_settings(settings))


def answer_city(body: dict) -> Reply:
    facts = json.loads(tool_outputs(body)[-1])
    return Reply(f"Your city is {facts['city']}." if facts["city"] else "I don't know.")


def without_ids(items: list[dict]) -> list[dict]:
    # Ids and the provider's response ids differ between any two requests.
    return [
        {k: v for k, v in item.items() if k not in {"id", "call_id", "provider_data"}}
        for item in items
    ]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_seed_flow(db_path: Path, server: FakeOpenAIServer, api: str, stream: bool) -> None:
    deltas: list[str] = []

    async def sink(text: str) -> None:
        deltas.append(text)

    on_text = sink if stream else None
    server.enqueue(
        ToolCall("save_facts", {"name": "Ada", "city": "Lisbon"}, call_id="call_save"),
        Reply("Nice to meet you, Ada! I'll remember that you live in Lisbon."),
    )
    async with SqlMemoryStore(db_path) as store:
        first = await service_for(store, server, api).turn(
            ADA, "My name is Ada and I live in Lisbon", on_text
        )
    assert first.ok, first.reply
    # A new store and service: memory comes from the file, the answer from the read tool.
    server.enqueue(ToolCall("read_facts", {}, call_id="call_read"), answer_city)
    async with SqlMemoryStore(db_path) as store:
        second = await service_for(store, server, api).turn(ADA, "What's my city?", on_text)
        assert second.reply == "Your city is Lisbon."
        assert (await store.memory(ADA)).facts() == {"name": "Ada", "city": "Lisbon"}
        stored = await store.all_items(ADA)
    assert json.loads(tool_outputs(server.requests[-1].body)[-1])["city"] == "Lisbon"
    assert [i.get("type", "message") for i in stored] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ] * 2
    expected_path = "/v1/chat/completions" if api == "chat_completions" else "/v1/responses"
    assert {r.path for r in server.requests} == {expected_path}
    assert all(r.body.get("stream", False) is stream for r in server.requests)
    if stream:
        # Every piece reached the sink, in order (pieces that arrive together are joined).
        assert "".join(deltas) == (
            "Nice to meet you, Ada! I'll remember that you live in Lisbon.Your city is Lisbon."
        )
        assert len(deltas) >= 2


@pytest.mark.parametrize("api", APIS)
async def test_streamed_history_equals_non_streamed(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    long_answer = "A fairly long answer that arrives in several pieces. " * 4
    results = []
    for user, stream in ((A, False), (B, True)):
        server.enqueue(ToolCall("read_facts", {}, call_id=f"call_{user.id}"), Reply(long_answer))
        chunks: list[str] = []

        async def sink(text: str, chunks: list[str] = chunks) -> None:
            chunks.append(text)

        result = await service_for(store, server, api).turn(user, "hi", sink if stream else None)
        results.append((result, chunks))
    (plain, none), (streamed, chunks) = results
    # The text reached the sink whole (pieces that arrive together are joined into one call).
    assert none == [] and "".join(chunks) == long_answer
    assert server.requests[-1].body["stream"] is True
    assert plain.reply == streamed.reply == long_answer.strip()
    plain_items = without_ids(await store.all_items(A))
    streamed_items = without_ids(await store.all_items(B))
    assert plain_items == streamed_items


GARBAGE = "<html><body><h1>It works!</h1><p>This is a web server.</p></body></html>"


@pytest.mark.parametrize("api", APIS)
async def test_a_garbage_answer_is_refused_alike_streamed_or_not(
    store: MemoryStore, server: FakeOpenAIServer, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    shown: list[str] = []

    async def sink(text: str) -> None:
        shown.append(text)

    replies = {}
    for user, stream in ((A, False), (B, True)):
        server.enqueue(Raw(200, "text/html; charset=utf-8", GARBAGE))
        service = service_for(store, server, api, stream_replies=stream, model_max_retries=0)
        result = await service.turn(user, "hello", sink if stream else None)
        assert (result.ok, result.failure) == (False, "bad_response"), result.reply
        assert result.added == []
        assert await store.all_items(user) == []  # nothing stored, streamed or not
        replies[stream] = result.reply
    assert server.requests[-1].body["stream"] is True  # the streamed path was taken
    assert replies[False] == replies[True]
    assert (
        "couldn't read" in replies[True]
        and "Nothing from this message was stored" in (replies[True])
    )
    assert shown == []
    assert "not the OpenAI API" in caplog.text and "OPENAI_BASE_URL" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("api", APIS)
async def test_rate_limited_then_success_is_retried(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    server.enqueue(Status(429, "slow down", headers={"Retry-After": "0"}), Reply("made it"))
    result = await service_for(store, server, api).turn(ADA, "hi")
    assert result.reply == "made it"
    assert len(server.requests) == 2


@pytest.mark.parametrize("api", APIS)
async def test_server_error_forever_gives_a_clear_reply_and_no_history(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    await store.commit_turn(ADA, [{"role": "user", "content": "earlier"}], set_facts(name="A"))
    before = await store.all_items(ADA)
    server.enqueue(*[Status(500, "boom")] * 3)
    started = time.monotonic()
    result = await service_for(store, server, api).turn(ADA, "hi")
    assert result.failure == "server_error"
    assert "server error" in result.reply and "Nothing from this message was stored" in result.reply
    assert len(server.requests) == 3  # the first try and two retries
    assert time.monotonic() - started < 10
    assert await store.all_items(ADA) == before


@pytest.mark.parametrize("api", APIS)
async def test_hung_server_times_out_within_the_limit(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    server.enqueue(*[Hang(30)] * 3)
    started = time.monotonic()
    result = await service_for(store, server, api, model_timeout_s=1.0).turn(ADA, "hi")
    elapsed = time.monotonic() - started
    assert result.failure == "timeout"
    assert "took too long" in result.reply
    assert elapsed < 3, elapsed
    assert await store.all_items(ADA) == []


@pytest.mark.parametrize("api", APIS)
async def test_authentication_failure_is_clear_and_logged_once(
    store: MemoryStore,
    server: FakeOpenAIServer,
    api: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.enqueue(*[Status(401, f"Incorrect API key provided: {SECRET_KEY}")] * 2)
    service = service_for(store, server, api)
    with caplog.at_level(logging.DEBUG):
        results = [await service.turn(ADA, "hi") for _ in range(2)]
    assert [r.failure for r in results] == ["authentication", "authentication"]
    assert "API key" in results[0].reply
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "check OPENAI_API_KEY" in errors[0].getMessage()
    assert SECRET_KEY not in caplog.text
    assert all(SECRET_KEY not in r.reply for r in results)
    assert await store.all_items(ADA) == []


@pytest.mark.parametrize("api", APIS)
async def test_secrets_never_reach_logs_replies_or_memory(
    store: MemoryStore,
    server: FakeOpenAIServer,
    api: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.enqueue(
        Status(500, f"upstream failed for key {SECRET_KEY}"),
        Status(500, f"upstream failed for key {SECRET_KEY}"),
        Status(500, f"upstream failed for key {SECRET_KEY}"),
        Status(400, f"bad request with {SECRET_KEY}"),
        Reply("fine"),
    )
    service = service_for(store, server, api)
    with caplog.at_level(logging.DEBUG):
        replies = [(await service.turn(ADA, "hi")).reply for _ in range(3)]
        replies.append(await service.commands.history(ADA))
        replies.append(json.dumps(await service.commands.export(ADA)))
    assert replies[2] == "fine"
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"
    for text in [*replies, caplog.text]:
        assert SECRET_KEY not in text


@pytest.mark.parametrize("api", APIS)
async def test_requests_carry_no_user_identity(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    server.enqueue(ToolCall("read_facts", {}), Reply("ok"))
    await service_for(store, server, api).turn(ADA_4242, "who am I?")
    for request in server.requests:
        assert "ada-4242" not in json.dumps(request.body)
        tools = request.body["tools"]
        names = {t.get("name") or t["function"]["name"] for t in tools}
        assert names == {"save_facts", "read_facts", "remember", "forget_memory", "search_history"}
        for tool in tools:
            params = tool.get("parameters") or tool["function"]["parameters"]
            assert not {"user", "user_id", "user_key", "id"} & set(params.get("properties", {}))


def request_items(api: str, body: dict) -> tuple[list[str], list[str]]:
    """(call ids made by the model, call ids answered) in what was sent."""
    if api == "chat_completions":
        calls = [
            c["id"]
            for m in body["messages"]
            if m["role"] == "assistant"
            for c in m.get("tool_calls") or []
        ]
        outputs = [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"]
    else:
        calls = [i["call_id"] for i in body["input"] if i.get("type") == "function_call"]
        outputs = [i["call_id"] for i in body["input"] if i.get("type") == "function_call_output"]
    return calls, outputs


@pytest.mark.parametrize("api", APIS)
async def test_history_window_sends_no_orphaned_call(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    service = service_for(store, server, api, history_window=2)
    for n in range(5):
        server.enqueue(ToolCall("read_facts", {}, call_id=f"call_{n}"), Reply(f"answer {n}"))
        assert (await service.turn(ADA, f"question {n}")).ok
    last_first_request = server.requests[-2].body
    calls, outputs = request_items(api, last_first_request)
    assert sorted(calls) == sorted(outputs) == ["call_2", "call_3"]
    text = json.dumps(last_first_request)
    assert "question 1" not in text and "question 2" in text and "question 4" in text


@pytest.mark.slow
def test_console_against_the_test_server(tmp_path: Path, server: FakeOpenAIServer) -> None:
    """The real entry point with a configured model server: streamed replies, tool calls,
    a failure reply, and the key nowhere in what the process prints."""

    server.enqueue(
        ToolCall("save_facts", {"name": "Ada", "city": "Lisbon"}),
        Reply("Nice to meet you, Ada! I'll remember that you live in Lisbon.", chunk_size=8),
        ToolCall("read_facts", {}),
        answer_city,
        Status(401, f"Incorrect API key provided: {SECRET_KEY}"),
    )
    env = bot_env(
        OPENAI_BASE_URL=server.base_url,
        OPENAI_API_KEY=SECRET_KEY,
        BOT_MODEL="test-model",
        MODEL_MAX_RETRIES="0",
    )
    proc = console(
        "My name is Ada and I live in Lisbon",
        "What's my city?",
        "hello",
        db=tmp_path / "m.db",
        env=env,
        cwd=tmp_path,
    )
    assert "bot> Nice to meet you, Ada! I'll remember that you live in Lisbon." in proc.stdout
    assert "bot> Your city is Lisbon." in proc.stdout
    assert "[tool] read_facts() -> " in proc.stdout
    assert "rejected my credentials" in proc.stdout
    assert "check OPENAI_API_KEY" in proc.stderr
    assert "test-model via Chat Completions at http://127.0.0.1" in proc.stderr
    assert SECRET_KEY not in proc.stdout + proc.stderr


@pytest.mark.parametrize("api", APIS)
async def test_a_real_model_remembers_and_forgets_notes(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    service = service_for(store, server, api)
    server.enqueue(
        ToolCall("remember", {"note": "I'm vegetarian"}, call_id="call_r1"),
        Reply("Noted."),
        ToolCall("remember", {"note": "my dog is called Rex"}, call_id="call_r2"),
        Reply("Noted too."),
    )
    first = await service.turn(ADA, "remember that I'm vegetarian")
    second = await service.turn(ADA, "and that my dog is called Rex")
    assert first.ok and second.ok
    outputs = [json.loads(tool_outputs(server.requests[n].body)[-1]) for n in (1, 3)]
    assert outputs == [
        {"remembered": {"number": 1, "note": "I'm vegetarian"}},
        {"remembered": {"number": 2, "note": "my dog is called Rex"}},
    ]
    server.enqueue(
        ToolCall("forget_memory", {"item": "1"}, call_id="call_f1"),
        Reply("Forgotten."),
    )
    gone = await service.turn(ADA, "forget the vegetarian thing")
    assert gone.ok and [c.action for c in gone.changes] == ["forget"]
    assert json.loads(tool_outputs(server.requests[-1].body)[-1]) == {
        "forgotten": {"number": 1, "kind": "note", "value": "I'm vegetarian"}
    }
    memory = await store.memory(ADA)
    assert [(i.number, i.value) for i in memory.items] == [(2, "my dog is called Rex")]
    stored = json.dumps(await store.all_items(ADA))
    # The request, the remember call and its output, and the forget call's output.
    assert "I'm vegetarian" not in stored and stored.count("[forgotten]") == 4
    # The next request carries no trace of the forgotten note either.
    server.enqueue(Reply("Hello again."))
    await service.turn(ADA, "hi")
    body = server.requests[-1].body
    sent = body.get("input") or [m for m in body["messages"] if m["role"] != "system"]
    assert "hi" in json.dumps(sent) and "I'm vegetarian" not in json.dumps(sent)


def answer_from_search(body: dict) -> Reply:
    found = json.loads(tool_outputs(body)[-1])["matches"]
    best = found[0]
    return Reply(f"On {best['date']} you said: {best['text']}" if found else "Nothing found.")


@pytest.mark.parametrize("api", APIS)
async def test_a_real_model_searches_what_was_said_long_ago(
    store: MemoryStore, server: FakeOpenAIServer, api: str
) -> None:
    march = datetime(2023, 3, 14, tzinfo=UTC)
    await store.commit_turn(
        ADA, [{"role": "user", "content": "the wedding is in Sintra"}], at=march
    )
    await store.commit_turn(BOB, [{"role": "user", "content": "my wedding is in Porto"}])
    server.enqueue(ToolCall("search_history", {"query": "wedding", "limit": 3}), answer_from_search)
    result = await service_for(store, server, api).turn(ADA, "where was the wedding again?")
    assert result.reply == "On 2023-03-14 you said: the wedding is in Sintra"
    # The model asked with the tool's own schema, and got Ada's match only, dated.
    [output] = tool_outputs(server.requests[-1].body)
    assert json.loads(output) == {
        "matches": [{"date": "2023-03-14", "who": "user", "text": "the wedding is in Sintra"}]
    }
