from __future__ import annotations

import json

import pytest
from agents import FunctionTool, Runner
from agents.testing import ScriptedModel, assistant_message, function_call
from chat_support import make_service, set_facts

from bot.core.agent import build_agent
from bot.core.domain import UserKey
from bot.core.store import MemoryStore
from bot.core.tools import UserContext, clean_fact_value
from bot.models import offline_model, select_model
from bot.offline.model import OfflineModel
from bot.settings import Settings

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")
EVE = UserKey.parse("console:eve")


def tool_schemas() -> dict[str, dict]:
    agent = build_agent(offline_model())
    return {t.name: t.params_json_schema for t in agent.tools if isinstance(t, FunctionTool)}


def test_tool_schemas_have_no_user_field() -> None:
    schemas = tool_schemas()
    assert set(schemas) == {
        "save_facts",
        "read_facts",
        "remember",
        "forget_memory",
        "search_history",
    }
    for schema in schemas.values():
        text = json.dumps(schema).lower()
        for word in ("user", "id", "key", "session"):
            assert word not in set(schema.get("properties", {})), schema
        assert "user_key" not in text
    assert set(schemas["save_facts"]["properties"]) == {"name", "city"}
    assert schemas["read_facts"]["properties"] == {}
    assert set(schemas["remember"]["properties"]) == {"note"}
    assert set(schemas["forget_memory"]["properties"]) == {"item"}


async def test_a_model_cannot_read_another_users_facts(store: MemoryStore) -> None:
    await store.commit_turn(BOB, [], set_facts(name="Bob", city="Berlin"))
    model = ScriptedModel(
        [
            [function_call("read_facts", {"user_id": "console:bob"}, call_id="c1")],
            [assistant_message("done")],
        ]
    )
    result = await Runner.run(build_agent(model), "who is bob?", context=UserContext(EVE, store))
    outputs = [i.output for i in result.new_items if i.type == "tool_call_output_item"]
    assert outputs, "the tool call produced an output"
    assert all("Bob" not in str(o) and "Berlin" not in str(o) for o in outputs)
    model.assert_complete()


async def test_a_model_cannot_write_another_users_facts(store: MemoryStore) -> None:
    model = ScriptedModel(
        [
            [
                function_call(
                    "save_facts",
                    {"name": "Mallory", "city": None, "user": "console:bob"},
                    call_id="c1",
                )
            ],
            [assistant_message("done")],
        ]
    )
    await make_service(store, model).turn(EVE, "hi")
    assert (await store.memory(BOB)).facts() == {}


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Ada  ", "Ada"),
        ("A\u200bd\u200da", "Ada"),  # zero-width characters are invisible, so removed
        ("Lis\x00bon\x1b", "Lisbon"),  # control characters
        ("São\n Paulo", "São Paulo"),
        ("O'Brien; DROP TABLE user_facts;--", "O'Brien; DROP TABLE user_facts;--"),
        ("Ada 🚀", "Ada 🚀"),
        ("\u202eevil", "evil"),  # bidi override
        ("x" * 500, "x" * 100),
    ],
)
def test_fact_values_are_cleaned_but_otherwise_verbatim(raw: str, stored: str) -> None:
    assert clean_fact_value(raw) == stored


async def test_saved_values_round_trip_through_the_store(store: MemoryStore) -> None:
    city = "Tel Aviv \u05ea\u05dc \u05d0\u05d1\u05d9\u05d1 \"quoted\" 'x' %_ \\"
    model = ScriptedModel(
        [
            [function_call("save_facts", {"name": None, "city": city}, call_id="c1")],
            [assistant_message("saved")],
        ]
    )
    await make_service(store, model).turn(ADA, "I live there")
    assert (await store.memory(ADA)).facts() == {"city": city}


def test_model_selection() -> None:
    assert isinstance(select_model(Settings()), OfflineModel)
    assert isinstance(
        select_model(Settings(openai_api_key="sk-x", bot_model="offline")), OfflineModel
    )
    responses = select_model(Settings(openai_api_key="sk-x"))
    assert type(responses).__name__ == "OpenAIResponsesModel"
    chat = select_model(Settings(openai_base_url="http://127.0.0.1:9/v1", bot_model="llama3"))
    assert type(chat).__name__ == "OpenAIChatCompletionsModel"
