"""The offline model through the real runner, tools and store."""

from __future__ import annotations

import pytest

from bot.core.agent import offline_model
from bot.core.chat import ChatService
from bot.memory import MemoryStore
from bot.offline.model import help_text


def tool_calls(added: list) -> list[tuple[str, str]]:
    return [(i["name"], i["arguments"]) for i in added if i.get("type") == "function_call"]


async def test_statement_is_saved_with_a_tool_call(
    service: ChatService, store: MemoryStore
) -> None:
    result = await service.turn("u", "I'm Ada from Lisbon")
    assert tool_calls(result.added) == [("save_facts", '{"name": "Ada", "city": "Lisbon"}')]
    assert await store.facts("u") == {"name": "Ada", "city": "Lisbon"}
    assert "Ada" in result.reply and "Lisbon" in result.reply


async def test_question_is_answered_from_the_read_tool(
    service: ChatService, store: MemoryStore
) -> None:
    await store.commit_turn("u", [], {"city": "São Paulo"})
    result = await service.turn("u", "where do I live?")
    assert tool_calls(result.added) == [("read_facts", "{}")]
    assert result.reply == "Your city is São Paulo."


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What's my city?", "I don't know your city yet."),
        ("what's my name?", "I don't know your name yet."),
        ("What do you know about me?", "I don't know anything about you yet."),
    ],
)
async def test_never_invents_a_fact(service: ChatService, question: str, answer: str) -> None:
    result = await service.turn("u", question)
    assert tool_calls(result.added) == [("read_facts", "{}")]
    assert result.reply.startswith(answer)


async def test_statement_and_question_in_one_message(service: ChatService) -> None:
    await service.turn("u", "I moved to Porto")
    result = await service.turn("u", "I'm Ada, what's my city?")
    assert [name for name, _ in tool_calls(result.added)] == ["save_facts", "read_facts"]
    assert "Your city is Porto." in result.reply


async def test_moving_replaces_the_city(service: ChatService, store: MemoryStore) -> None:
    await service.turn("u", "my name is Ada and I live in Lisbon")
    await service.turn("u", "I moved to São Paulo")
    assert await store.facts("u") == {"name": "Ada", "city": "São Paulo"}
    assert (await service.turn("u", "what do you know about me?")).reply == (
        "Your name is Ada. Your city is São Paulo."
    )


async def test_anything_else_gets_the_offline_explanation(service: ChatService) -> None:
    result = await service.turn("u", "tell me a joke")
    assert result.reply == help_text("!")
    assert "!memory shows what I remember" in result.reply


async def test_the_explanation_uses_the_configured_prefix(store: MemoryStore) -> None:
    result = await ChatService(store, offline_model("?")).turn("u", "sing me a song")
    assert "?memory shows what I remember, ?forget erases it." in result.reply
    assert tool_calls(result.added) == []
    assert [i["role"] for i in result.added] == ["user", "assistant"]


async def test_streamed_turn_stores_the_same_items(store: MemoryStore) -> None:
    from agents import Runner

    from bot.core.agent import UserContext, build_agent, offline_model
    from bot.memory import TurnSession

    session = TurnSession(store, "u", 10)
    streamed = Runner.run_streamed(
        build_agent(offline_model()),
        "call me Ada",
        session=session,
        context=UserContext("u", store),
    )
    deltas = [e async for e in streamed.stream_events() if e.type == "raw_response_event"]
    assert deltas
    assert streamed.final_output == "Nice to meet you, Ada! I'll remember your name."
    assert [i.get("type", "message") for i in session.pending] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
