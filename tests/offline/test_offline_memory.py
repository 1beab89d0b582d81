"""The offline model remembers notes and forgets items through the same tools a real model
calls: `remember`, `forget_memory`, `read_facts`."""

from __future__ import annotations

import json

import pytest

from bot.core.chat import ChatService
from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore
from bot.offline.memory_requests import (
    ForgetEverything,
    ForgetItem,
    ForgetNote,
    RememberNote,
    match_note,
    parse_memory_request,
)

ADA = UserKey("console", "ada")


def calls(items: list[dict]) -> list[tuple[str, dict]]:
    return [
        (i["name"], json.loads(i["arguments"])) for i in items if i.get("type") == "function_call"
    ]


async def test_notes_are_remembered_listed_and_forgotten(
    service: ChatService, store: SqlMemoryStore
) -> None:
    told = await service.turn(ADA, "My name is Ada and I live in Lisbon")
    assert calls(told.added) == [("save_facts", {"name": "Ada", "city": "Lisbon"})]

    veg = await service.turn(ADA, "remember that I'm vegetarian")
    assert calls(veg.added) == [("remember", {"note": "I'm vegetarian"})]
    assert veg.reply == "Got it, I'll remember that (note 3). !forget 3 erases it."

    rex = await service.turn(ADA, "please remember my dog is called Rex")
    assert calls(rex.added) == [("remember", {"note": "my dog is called Rex"})]

    known = await service.turn(ADA, "what do you know about me?")
    assert calls(known.added) == [("read_facts", {})]
    assert known.reply == (
        "Your name is Ada. Your city is Lisbon. You asked me to remember: "
        "I'm vegetarian (note 3); my dog is called Rex (note 4)."
    )

    city = await service.turn(ADA, "forget my city")
    assert calls(city.added) == [("forget_memory", {"item": "city"})]
    assert city.reply.startswith("Done, I've forgotten your city")

    veg_gone = await service.turn(ADA, "forget that I'm vegetarian")
    assert calls(veg_gone.added) == [("read_facts", {}), ("forget_memory", {"item": "3"})]
    assert [(i.number, i.value) for i in (await store.memory(ADA)).items] == [
        (1, "Ada"),
        (4, "my dog is called Rex"),
    ]
    after = await service.turn(ADA, "What do you know about me?")
    assert after.reply == (
        "Your name is Ada. I don't know your city yet. "
        "You asked me to remember: my dog is called Rex (note 4)."
    )


async def test_remember_with_a_name_saves_the_name(
    service: ChatService, store: SqlMemoryStore
) -> None:
    result = await service.turn(ADA, "remember that my name is Ada")
    assert calls(result.added) == [("save_facts", {"name": "Ada"})]
    assert (await store.memory(ADA)).notes() == []


async def test_forgetting_what_was_never_said(service: ChatService) -> None:
    missing = await service.turn(ADA, "forget that I like jazz")
    assert missing.reply == "I don't have a note like that. !memory lists what I remember."
    everything = await service.turn(ADA, "forget everything")
    assert everything.reply == "To erase everything I remember about you, type !forget."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("remember that I'm vegetarian", RememberNote("I'm vegetarian")),
        ("Please remember my dog is called Rex.", RememberNote("my dog is called Rex")),
        ("can you remember that I work nights?", RememberNote("I work nights")),
        ("hey, remember: I hate cilantro", RememberNote("I hate cilantro")),
        ("forget my city", ForgetItem("city")),
        ("please forget my name", ForgetItem("name")),
        ("forget where I live", ForgetItem("city")),
        ("forget note 3", ForgetItem("3")),
        ("forget #12", ForgetItem("12")),
        ("forget that I’m vegetarian", ForgetNote("I'm vegetarian")),
        ("forget about my dog", ForgetNote("my dog")),
        ("forget everything about me", ForgetEverything()),
        ("remember my name?", None),
        ("do you remember me?", None),
        ("I forget things easily", None),
        ("what's my city?", None),
    ],
)
def test_requests_are_recognised(text: str, expected: object) -> None:
    assert parse_memory_request(text) == expected


def test_a_note_is_matched_by_its_words() -> None:
    notes = [{"number": 3, "note": "I'm vegetarian"}, {"number": 4, "note": "my dog is called Rex"}]
    assert match_note(notes, "i'm VEGETARIAN") == 3
    assert match_note(notes, "my dog") == 4
    assert match_note(notes, "the dog is called rex") == 4
    assert match_note(notes, "I like jazz") is None
