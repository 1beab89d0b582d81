"""Memory items on Discord, driven through dpytest: notes, the `!memory` embed and private
`/memory`, forgetting one item, pausing, and the turn embed showing what changed; on the
SQLite file and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext import commands
from discord_support import NO_PING, BotFactory, drain, member_named, settings_for, slash

from bot.core.domain import UserKey
from bot.settings import Settings

pytest_plugins = ["discord_fixtures"]

EPHEMERAL = 64


@pytest.fixture
def settings(memory_target: str | Path, tmp_path: Path) -> Settings:
    if isinstance(memory_target, Path):
        return settings_for(tmp_path, memory_db_path=memory_target)
    return settings_for(tmp_path, database_url=memory_target)


async def tell(text: str, member: discord.Member) -> list[discord.Message]:
    await dpytest.message(text, channel=dpytest.get_config().channels[0], member=member)
    return drain()


async def test_notes_listed_forgotten_and_shown_in_the_turn_embed(
    make_bot: BotFactory, settings: Settings
) -> None:
    bot = await make_bot(settings)
    ada = member_named("Ada")
    await tell("My name is Ada and I live in Lisbon", ada)
    [noted] = await tell("remember that I'm vegetarian", ada)
    assert noted.content == "Got it, I'll remember that (note 3). !forget 3 erases it."
    assert noted.embeds[0].description == (
        "**Memory changed**\nnote 3: I'm vegetarian (new) · !forget 3 erases it"
    )
    [moved] = await tell("I moved to Porto", ada)
    assert "city: Porto (was Lisbon) · !forget city erases both" in moved.embeds[0].description

    [listed] = await tell("!memory", ada)
    embed = listed.embeds[0]
    assert embed.title == "What I remember about you"
    assert [f.name for f in embed.fields] == ["#1 name", "#2 city", "#3 note"]
    assert [f.value.splitlines()[0] for f in embed.fields] == ["Ada", "Porto", "I'm vegetarian"]
    assert all("· discord" in f.value for f in embed.fields)
    assert embed.footer.text.startswith("Memory is on (!memory off)")

    [erased] = await tell("!forget 3", ada)
    assert erased.content.startswith("Done. I forgot note 3 (I'm vegetarian)")
    [listed] = await tell("!memory", ada)
    assert [f.name for f in listed.embeds[0].fields] == ["#1 name", "#2 city"]
    key = UserKey("discord", str(ada.id))
    assert "vegetarian" not in str(await bot.chat.store.all_items(key))
    # Each item knows the message it came from.
    [city] = [i for i in (await bot.chat.store.memory(key)).items if i.kind == "city"]
    assert city.source.frontend == "discord" and (city.source.ref or "").startswith("https://")


async def test_memory_off_pauses_and_slash_memory_answers_privately(
    make_bot: BotFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot(settings)
    ada, bob = member_named("Ada"), member_named("Bob")
    channel = dpytest.get_config().channels[0]
    await tell("My name is Ada and I live in Lisbon", ada)
    await tell("My name is Bob and I live in Oslo", bob)
    [off] = await tell("!memory off", ada)
    assert off.content.startswith("Memory is paused.")
    key = UserKey("discord", str(ada.id))
    before = await bot.chat.store.all_items(key)
    [reply] = await tell("remember that I'm vegetarian", ada)
    # The answer says how to resume, so the paused note does not say it again.
    assert reply.content.endswith("\n(Memory is paused: nothing from this conversation is stored.)")
    assert reply.content.count("!memory on") == 1
    assert reply.embeds == []  # nothing was stored, so nothing is listed
    assert await bot.chat.store.all_items(key) == before
    assert (await bot.chat.store.memory(key)).notes() == []

    [shown] = await slash(bot, monkeypatch, "memory", ada, channel)
    assert shown["data"]["flags"] & EPHEMERAL and shown["data"]["allowed_mentions"] == NO_PING
    embed = shown["data"]["embeds"][0]
    values = " ".join(f["value"] for f in embed["fields"])
    assert "Lisbon" in values and "Oslo" not in values  # the caller's memory only
    assert embed["footer"]["text"].startswith("Memory is paused")
    [on] = await slash(bot, monkeypatch, "memory", ada, channel, state="on")
    assert on["data"]["content"].startswith("Memory is on again")
    [forgot] = await slash(bot, monkeypatch, "forget", bob, channel, item="city")
    assert forgot["data"]["flags"] & EPHEMERAL
    assert forgot["data"]["content"].startswith("Done. I forgot your city (Oslo)")
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{bob.id}"))).facts() == {
        "name": "Bob"
    }
    assert (await bot.chat.store.memory(key)).facts() == {"name": "Ada", "city": "Lisbon"}
    with pytest.raises(commands.BadArgument):  # dpytest re-raises handled errors
        await tell("!forget Lisbon", ada)
    [bad] = drain()
    assert bad.content.startswith("Usage: `!forget [item]`")
