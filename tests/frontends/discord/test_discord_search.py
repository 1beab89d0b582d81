"""`!search` and `/search` on Discord (dpytest): a person's own messages, with dates, shown
only to them; the same words in another member's history are never shown."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest
from discord.ext import commands
from discord_support import BotFactory, drain, member_named, slash

pytest_plugins = ["discord_fixtures"]


async def tell(text: str, member: object) -> None:
    await dpytest.message(text, member=member)


async def test_search_shows_my_matches_with_dates_and_nobody_elses(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot()
    ada, bob = member_named("Ada"), member_named("Bob")
    await tell("remember that my sister Clara marries in Sintra", ada)
    await tell("my cousin marries in Sintra too", bob)
    drain()
    await tell("!search Sintra", ada)
    [shown] = drain()
    [embed] = shown.embeds
    assert embed.title == 'Search: "Sintra"'
    values = [field.value for field in embed.fields]
    assert "remember that my sister Clara marries in Sintra" in values
    assert not any("cousin" in value for value in values)
    assert all(field.name.startswith(("you, 20", "bot, 20")) for field in embed.fields)

    channel = dpytest.get_config().channels[0]
    [response] = await slash(bot, monkeypatch, "search", bob, channel, words="Sintra")
    assert response["data"]["flags"] & 64  # ephemeral: only Bob sees it
    [embed_data] = response["data"]["embeds"]
    assert [f["value"] for f in embed_data["fields"]] == ["my cousin marries in Sintra too"]


async def test_search_without_words_says_how_to_use_it(make_bot: BotFactory) -> None:
    await make_bot()
    with pytest.raises(commands.MissingRequiredArgument):  # dpytest re-raises handled errors
        await tell("!search", member_named("Ada"))
    [usage] = drain()
    assert usage.content.startswith("Usage: `!search <words>`")
