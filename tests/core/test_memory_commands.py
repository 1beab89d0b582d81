"""`!memory`, `!memory off|on`, `!forget name|city|<number>`, corrections in the turn summary,
and items above the conversation in `!history`: through `ChatService.handle`, the path every
text front end (console, Slack) uses, on both back ends."""

from __future__ import annotations

from bot.core.chat import ChatService
from bot.core.domain import UserKey
from bot.core.render import render_changes
from bot.core.syntax import CommandSyntax
from bot.memory import SqlMemoryStore

ADA = UserKey.parse("console:ada")
BOB = UserKey.parse("console:bob")


async def seed(service: ChatService, user: str = ADA) -> None:
    for line in (
        "My name is Ada and I live in Lisbon",
        "remember that I'm vegetarian",
        "please remember my dog is called Rex",
    ):
        assert (await service.handle(user, line)).added


async def test_memory_lists_every_item_with_its_number(service: ChatService) -> None:
    assert (await service.handle(ADA, "!memory")).text.startswith(
        "I don't remember anything about you yet."
    )
    await seed(service)
    shown = (await service.handle(ADA, "!memory")).text.splitlines()
    assert shown[0] == "What I remember about you:"
    assert [line.split("  (saved")[0].strip() for line in shown[1:5]] == [
        "#1 name: Ada",
        "#2 city: Lisbon",
        "#3 note: I'm vegetarian",
        "#4 note: my dog is called Rex",
    ]
    assert all(", console)" in line for line in shown[1:5])
    assert "Memory is on." in shown[5]


async def test_forget_one_item_says_exactly_what_was_erased(
    service: ChatService, store: SqlMemoryStore
) -> None:
    await seed(service)
    reply = await service.handle(ADA, "!forget 3")
    assert reply.is_command and reply.added == []
    assert reply.text == (
        "Done. I forgot note 3 (I'm vegetarian) and removed it from 3 stored history items."
    )
    city = await service.handle(ADA, "!forget city")
    assert city.text == (
        "Done. I forgot your city (Lisbon) and any city you gave me before it, and removed them "
        "from 4 stored history items."
    )
    assert (await service.handle(ADA, "!forget 3")).text == (
        "There is no item 3 in your memory. !memory lists what I remember."
    )
    assert (await service.handle(ADA, "!forget Lisbon")).text.startswith("Usage: !forget")
    assert [i.number for i in (await store.memory(ADA)).items] == [1, 4]
    # The model can no longer read the old values back from the history window.
    window = (await store.recent_items(ADA, 10)).items
    assert "Lisbon" not in str(window) and "vegetarian" not in str(window)
    asked = await service.handle(ADA, "What do you know about me?")
    assert asked.text == (
        "Your name is Ada. I don't know your city yet. "
        "You asked me to remember: my dog is called Rex (note 4)."
    )


async def test_forget_alone_still_erases_everything(
    service: ChatService, store: SqlMemoryStore
) -> None:
    await seed(service)
    reply = await service.handle(ADA, "!forget")
    assert reply.text == (
        "Done. I erased 12 history items and your name (Ada) and city (Lisbon) and 2 notes. "
        "I no longer remember anything about you."
    )
    assert (await store.memory(ADA)).items == []
    await service.handle(ADA, "remember that I like tea")
    assert [i.number for i in (await store.memory(ADA)).items] == [1]  # numbering restarts


async def test_paused_memory_answers_but_stores_nothing(
    service: ChatService, store: SqlMemoryStore
) -> None:
    await seed(service)
    before = await store.all_items(ADA)
    paused = await service.handle(ADA, "!memory off")
    assert paused.text.startswith("Memory is paused.")
    for line in ("I moved to Porto", "remember that I hate mornings", "What's my city?"):
        reply = await service.handle(ADA, line)
        assert reply.added == [] and reply.changes == []
        assert "\n(Memory is paused: nothing from this conversation is stored." in reply.text
        assert reply.text.count("!memory on") == 1  # how to resume is said once
    # Stored memory is still readable while paused.
    assert (await service.handle(ADA, "What's my city?")).text.startswith("Your city is Lisbon.")
    assert "Memory is paused" in (await service.handle(ADA, "!memory")).text
    assert await store.all_items(ADA) == before
    assert (await store.memory(ADA)).facts() == {"name": "Ada", "city": "Lisbon"}
    assert (await service.handle(ADA, "!memory on")).text.startswith("Memory is on again")
    assert (await service.handle(ADA, "I moved to Porto")).changes


async def test_a_correction_is_shown_with_how_to_erase_it(service: ChatService) -> None:
    await seed(service)
    reply = await service.handle(ADA, "I moved to Porto")
    assert render_changes(reply.changes, CommandSyntax()) == (
        "-- memory changed --\n  city: Porto (was Lisbon) · !forget city erases both"
    )
    note = await service.handle(ADA, "remember that I work night shifts")
    assert render_changes(note.changes, CommandSyntax()).endswith(
        "note 5: I work night shifts (new) · !forget 5 erases it"
    )


async def test_history_shows_items_above_the_conversation(service: ChatService) -> None:
    await seed(service)
    lines = (await service.handle(ADA, "!history")).text.splitlines()
    assert lines[:5] == [
        "What I remember about you:",
        "  #1 name: Ada",
        "  #2 city: Lisbon",
        "  #3 note: I'm vegetarian",
        "  #4 note: my dog is called Rex",
    ]
    assert lines[5] == ("Conversation history, page 1 of 1 (page 1 is the newest): turns 1–3 of 3:")
    # Another turn makes a second page; the list of items is shown on page 1 only.
    await service.handle(ADA, "What do you know about me?")
    newest = (await service.handle(ADA, "!history")).text.splitlines()
    assert newest[:2] == ["What I remember about you:", "  #1 name: Ada"]
    assert "turns 2–4 of 4:" in newest[5] and newest[-1] == "Older: !history 2"
    older = (await service.handle(ADA, "!history 2")).text.splitlines()
    assert older[0] == "What I remember about you: 4 items (!memory lists them)."
    assert older[1].endswith("page 2 of 2 (page 1 is the newest): turn 1 of 4:")
    assert "#1 name: Ada" not in "\n".join(older)
    assert older[2] == "  [you] My name is Ada and I live in Lisbon"


async def test_help_lists_every_command(service: ChatService) -> None:
    text = (await service.handle(ADA, "!help")).text
    for command in ("!memory ", "!memory off|on", "!forget <n>", "!forget ", "!history", "!export"):
        assert command in text


async def test_users_are_isolated(service: ChatService, store: SqlMemoryStore) -> None:
    await seed(service, ADA)
    await seed(service, BOB)
    await service.handle(ADA, "!forget 2")
    await service.handle(ADA, "!memory off")
    bob = await store.memory(BOB)
    assert [(i.number, i.value) for i in bob.items][:2] == [(1, "Ada"), (2, "Lisbon")]
    assert not bob.paused
    assert "Lisbon" in str(await store.all_items(BOB))
