"""The fake OpenAI server works end to end with the SDK's real models and the real client.

Every test goes over real HTTP on 127.0.0.1 with ``openai.AsyncOpenAI``; nothing is mocked.
Both APIs (Chat Completions and Responses) are covered, streamed and not.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest
from agents import (
    Agent,
    Model,
    ModelRetrySettings,
    ModelSettings,
    Runner,
    RunResult,
    RunResultStreaming,
    function_tool,
    retry_policies,
    set_tracing_disabled,
)
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from openai_server import (
    CHAT_PATH,
    RESPONSES_PATH,
    FakeOpenAIServer,
    Hang,
    Reply,
    Status,
    ToolCall,
    tool_outputs,
)

set_tracing_disabled(True)

APIS = ["chat", "responses"]
PATHS = {"chat": CHAT_PATH, "responses": RESPONSES_PATH}


@function_tool
def get_city() -> str:
    """Return the user's city."""
    return "Lisbon"


@function_tool
def get_name() -> str:
    """Return the user's name."""
    return "Ada"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


ModelFactory = Callable[..., Model]


@pytest.fixture
async def make_model(server: FakeOpenAIServer) -> AsyncIterator[ModelFactory]:
    """Build a real SDK model for an API on a real client pointed at the fake server."""
    clients: list[openai.AsyncOpenAI] = []

    def factory(api: str, **client_options: Any) -> Model:
        client = openai.AsyncOpenAI(
            base_url=server.base_url,
            api_key="test-key",
            **{"max_retries": 0, "timeout": 5.0, **client_options},
        )
        clients.append(client)
        if api == "chat":
            return OpenAIChatCompletionsModel(model="fake-model", openai_client=client)
        return OpenAIResponsesModel(model="fake-model", openai_client=client)

    yield factory
    for client in clients:
        await client.close()


async def run(
    agent: Agent[Any], text: str, *, stream: bool
) -> tuple[RunResult | RunResultStreaming, list[str]]:
    """Run the agent (streamed or not); return the result and any streamed text deltas."""
    if not stream:
        return await Runner.run(agent, text), []
    result = Runner.run_streamed(agent, text)
    deltas: list[str] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    return result, deltas


def reply_with_tool_outputs(body: dict[str, Any]) -> Reply:
    return Reply(f"You live in {', '.join(tool_outputs(body))}.")


def sent_tool_names(api: str, body: dict[str, Any]) -> list[str]:
    if api == "chat":
        return [tool["function"]["name"] for tool in body.get("tools", [])]
    return [tool["name"] for tool in body.get("tools", [])]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("api", APIS)
async def test_tool_call_round_trip(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str, stream: bool
) -> None:
    server.enqueue(ToolCall("get_city", {}), reply_with_tool_outputs)
    agent = Agent(name="bot", instructions="Be brief.", model=make_model(api), tools=[get_city])

    result, _ = await run(agent, "where do I live?", stream=stream)

    assert result.final_output == "You live in Lisbon."
    assert server.remaining() == 0
    first, second = server.requests
    for request in (first, second):
        assert (request.method, request.path) == ("POST", PATHS[api])
        assert request.headers["authorization"] == "Bearer test-key"
        assert request.headers["content-type"] == "application/json"
        assert request.body.get("stream", False) is stream
        assert request.body["model"] == "fake-model"
    assert sent_tool_names(api, first.body) == ["get_city"]
    assert "where do I live?" in json.dumps(first.body)
    assert tool_outputs(first.body) == []
    assert tool_outputs(second.body) == ["Lisbon"]
    items = result.to_input_list()
    call = next(i for i in items if i.get("type") == "function_call")
    output = next(i for i in items if i.get("type") == "function_call_output")
    assert call["name"] == "get_city"
    assert output["call_id"] == call["call_id"]


@pytest.mark.parametrize("api", APIS)
async def test_parallel_tool_calls_get_unique_ids(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    server.enqueue(
        [ToolCall("get_name", {}), ToolCall("get_city", {}, call_id="call_fixed")],
        lambda body: Reply(" and ".join(tool_outputs(body))),
    )
    agent = Agent(name="bot", model=make_model(api), tools=[get_name, get_city])

    result, _ = await run(agent, "who am I?", stream=True)

    assert result.final_output == "Ada and Lisbon"
    call_ids = [i["call_id"] for i in result.to_input_list() if i.get("type") == "function_call"]
    assert len(set(call_ids)) == 2
    assert "call_fixed" in call_ids


@pytest.mark.parametrize("api", APIS)
async def test_long_reply_streams_as_several_deltas(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    text = "".join(f"<part {n}>".ljust(20, ".") for n in range(1, 6))
    assert len(text) == 100
    server.enqueue(Reply(text))
    agent = Agent(name="bot", model=make_model(api))

    result, deltas = await run(agent, "tell me a story", stream=True)

    assert len(deltas) == 5
    assert "".join(deltas) == text
    assert result.final_output == text


@pytest.mark.parametrize("api", APIS)
async def test_streamed_deltas_arrive_progressively(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    server.enqueue(Reply("a" * 100, delay=0.05))
    result = Runner.run_streamed(Agent(name="bot", model=make_model(api)), "hi")
    arrivals: list[float] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            arrivals.append(time.monotonic())

    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] >= 0.15
    assert result.final_output == "a" * 100


@pytest.mark.parametrize("api", APIS)
async def test_long_reply_without_streaming_arrives_whole(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    text = "x" * 100
    server.enqueue(Reply(text))
    result, _ = await run(Agent(name="bot", model=make_model(api)), "hi", stream=False)
    assert result.final_output == text
    assert result.context_wrapper.usage.total_tokens > 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("api", APIS)
async def test_429_then_reply_is_retried_by_the_runner(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str, stream: bool
) -> None:
    server.enqueue(Status(429, "slow down", headers={"Retry-After": "0"}), Reply("ok"))
    settings = ModelSettings(
        retry=ModelRetrySettings(
            max_retries=2,
            policy=retry_policies.any(
                retry_policies.retry_after(),
                retry_policies.http_status([429, 500, 502, 503]),
                retry_policies.network_error(),
            ),
        )
    )
    agent = Agent(name="bot", model=make_model(api, max_retries=0), model_settings=settings)

    started = time.monotonic()
    result, _ = await run(agent, "hi", stream=stream)

    assert result.final_output == "ok"
    assert len(server.requests) == 2
    assert server.remaining() == 0
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (Status(401, "bad key"), openai.AuthenticationError),
        (Status(400, "bad request"), openai.BadRequestError),
        (Status(429, "slow down", headers={"Retry-After": "0"}), openai.RateLimitError),
        (Status(503, "overloaded"), openai.InternalServerError),
    ],
    ids=["401", "400", "429", "503"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("api", APIS)
async def test_status_becomes_the_client_error(
    server: FakeOpenAIServer,
    make_model: ModelFactory,
    api: str,
    stream: bool,
    status: Status,
    error_type: type[openai.APIStatusError],
) -> None:
    server.enqueue(status)
    agent = Agent(name="bot", model=make_model(api))

    with pytest.raises(error_type) as caught:
        await run(agent, "hi", stream=stream)

    assert caught.value.status_code == status.code
    assert status.message in str(caught.value)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == status.message
    assert caught.value.request_id is not None
    for name, value in status.headers.items():
        assert caught.value.response.headers[name] == value
    if status.code == 401:
        assert caught.value.code == "invalid_api_key"
    assert len(server.requests) == 1


@pytest.mark.parametrize("api", APIS)
async def test_exhausted_script_is_a_clear_500(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    with pytest.raises(openai.InternalServerError, match="no scripted step left"):
        await run(Agent(name="bot", model=make_model(api)), "hi", stream=False)
    assert len(server.requests) == 1


async def test_a_failing_script_callable_is_a_clear_500(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    def broken(body: dict[str, Any]) -> Reply:
        raise KeyError("no such thing")

    server.enqueue(broken)
    with pytest.raises(openai.InternalServerError, match="scripted step raised KeyError"):
        await run(Agent(name="bot", model=make_model("chat")), "hi", stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("api", APIS)
async def test_hang_is_cut_by_the_client_timeout(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str, stream: bool
) -> None:
    server.enqueue(Hang(30))
    agent = Agent(name="bot", model=make_model(api, timeout=0.3))

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await run(agent, "hi", stream=stream)
    assert time.monotonic() - started < 2
    assert len(server.requests) == 1

    stop_started = time.monotonic()
    server.stop()
    assert time.monotonic() - stop_started < 1


@pytest.mark.parametrize("api", APIS)
async def test_stop_ends_a_hang_promptly(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    server.enqueue(Hang(30))
    agent = Agent(name="bot", model=make_model(api, timeout=10.0))
    task = asyncio.create_task(run(agent, "hi", stream=False))
    assert await asyncio.to_thread(server.received.wait, 60)
    assert len(server.requests) == 1

    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    with pytest.raises(openai.APIConnectionError):
        await asyncio.wait_for(task, timeout=2)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("api", APIS)
async def test_hang_ends_after_its_time_and_the_next_step_still_works(
    server: FakeOpenAIServer, make_model: ModelFactory, api: str
) -> None:
    server.enqueue(Hang(0.2), Reply("back"))
    agent = Agent(name="bot", model=make_model(api))

    with pytest.raises(openai.APIConnectionError):
        await run(agent, "hi", stream=False)
    result, _ = await run(agent, "hi again", stream=True)

    assert result.final_output == "back"
    assert len(server.requests) == 2


def test_unknown_route_and_bad_json_are_recorded_with_openai_errors(
    server: FakeOpenAIServer,
) -> None:
    def call(path: str, data: bytes | None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            server.base_url.removesuffix("/v1") + path,
            data=data,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    server.enqueue(Reply("unused"))
    assert call("/v1/models", None)[0] == 404
    code, body = call(CHAT_PATH, b"{not json")
    assert code == 400
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert server.remaining() == 1
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/v1/models"),
        ("POST", CHAT_PATH),
    ]
    code, body = call(CHAT_PATH, json.dumps({"model": "m", "messages": []}).encode())
    assert code == 200
    assert body["choices"][0]["message"]["content"] == "unused"
    assert body["usage"]["total_tokens"] > 0


def test_stop_is_idempotent_and_the_server_restarts() -> None:
    fake = FakeOpenAIServer()
    fake.stop()
    with fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert fake.base_url.endswith("/v1")
    fake.stop()
