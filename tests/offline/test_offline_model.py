"""The offline model through the real runner, tools and store."""

from __future__ import annotations

import pytest
from chat_support import make_service, set_facts

from bot.core.chat import ChatService
from bot.core.domain import UserKey
from bot.core.store import MemoryStore
from bot.offline.model import help_text

U = UserKey.parse("u")


def tool_calls(added: list) -> list[tuple[str, str]]:
    return [(i["name"], i["arguments"]) for i in added if i.get("type") == "function_call"]


async def test_statement_is_saved_with_a_tool_call(
    service: ChatService, store: MemoryStore
) -> None:
    result = await service.turn(U, "I'm Ada from Lisbon")
    assert tool_calls(result.added) == [("save_facts", '{"name": "Ada", "city": "Lisbon"}')]
    assert (await store.memory(U)).facts() == {"name": "Ada", "city": "Lisbon"}
    assert "Ada" in result.reply and "Lisbon" in result.reply


async def test_question_is_answered_from_the_read_tool(
    service: ChatService, store: MemoryStore
) -> None:

    await store.commit_turn(U, [], set_facts(city="São Paulo"))
    result = await service.turn(U, "where do I live?")
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
    result = await service.turn(U, question)
    assert tool_calls(result.added) == [("read_facts", "{}")]
    assert result.reply.startswith(answer)


async def test_statement_and_question_in_one_message(service: ChatService) -> None:
    await service.turn(U, "I moved to Porto")
    result = await service.turn(U, "I'm Ada, what's my city?")
    assert [name for name, _ in tool_calls(result.added)] == ["save_facts", "read_facts"]
    assert "Your city is Porto." in result.reply


async def test_moving_replaces_the_city(service: ChatService, store: MemoryStore) -> None:
    await service.turn(U, "my name is Ada and I live in Lisbon")
    await service.turn(U, "I moved to São Paulo")
    assert (await store.memory(U)).facts() == {"name": "Ada", "city": "São Paulo"}
    assert (await service.turn(U, "what do you know about me?")).reply == (
        "Your name is Ada. Your city is São Paulo."
    )


async def test_anything_else_gets_the_offline_explanation(service: ChatService) -> None:
    result = await service.turn(U, "tell me a joke")
    assert result.reply == help_text("!")
    assert "!memory shows what I remember" in result.reply


async def test_the_explanation_uses_the_configured_prefix(store: MemoryStore) -> None:
    result = await make_service(store, command_prefix="?").turn(U, "sing me a song")
    assert "?memory shows what I remember, ?forget erases it." in result.reply
    assert tool_calls(result.added) == []
    assert [i["role"] for i in result.added] == ["user", "assistant"]


async def test_streamed_turn_stores_the_same_items(store: MemoryStore) -> None:
    from agents import Runner

    from bot.core.agent import build_agent
    from bot.core.session import TurnSession
    from bot.core.tools import UserContext
    from bot.models import offline_model

    session = TurnSession(store, U, 10)
    streamed = Runner.run_streamed(
        build_agent(offline_model()),
        "call me Ada",
        session=session,
        context=UserContext(U, store),
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
