"""`history`, `forget`, `help` and the command error path, driven through dpytest."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest
from agents.testing import ScriptedModel, assistant_message, function_call
from discord.ext import commands
from discord_support import (
    NO_PING,
    SLASH_COMMANDS,
    BotFactory,
    Wire,
    add_text_channel,
    drain,
    member_named,
    settings_for,
    slash,
)

from bot.core.domain import UserKey
from bot.core.failures import COMMAND_FAILED
from bot.core.text import MAX_STORED_TOOL_CHARS
from bot.frontends.discord.render import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    SHORTENED_NOTE,
    TITLE_LIMIT,
    TRUNCATED,
    embed_size,
)

pytest_plugins = ["discord_fixtures"]

EPHEMERAL = 64


def within_limits(embed: discord.Embed) -> bool:
    return (
        len(embed.title or "") <= TITLE_LIMIT
        and len(embed.description or "") <= DESCRIPTION_LIMIT
        and len(embed.fields) <= FIELD_COUNT_LIMIT
        and all(0 < len(f.name) <= FIELD_NAME_LIMIT for f in embed.fields)
        and all(0 < len(f.value) <= FIELD_VALUE_LIMIT for f in embed.fields)
        and len(embed.footer.text or "") <= FOOTER_LIMIT
        and embed_size(embed) <= EMBED_TOTAL_LIMIT
    )


async def tell(text: str, member: discord.Member) -> list[discord.Message]:
    await dpytest.message(text, channel=dpytest.get_config().channels[0], member=member)
    return drain()


async def test_history_embed_shows_facts_then_items(make_bot: BotFactory) -> None:
    await make_bot()
    ada = member_named("Ada")
    await tell("My name is Ada and I live in Lisbon", ada)
    await tell("What's my city?", ada)

    [shown] = await tell("!history", ada)
    embed = shown.embeds[0]
    assert embed.title == "What I remember about you"
    assert embed.description == "**Memory**\n#1 name: Ada\n#2 city: Lisbon"
    rows = [(f.name, f.value) for f in embed.fields]
    assert [name for name, _ in rows] == ["you", "tool", "bot", "you", "tool", "bot"]
    assert rows[0][1] == "My name is Ada and I live in Lisbon"
    assert rows[1][1].startswith('save_facts(name="Ada", city="Lisbon") -> ')
    assert rows[4][1].startswith("read_facts() -> ") and "Lisbon" in rows[4][1]
    assert rows[5][1] == "Your city is Lisbon."
    assert embed.footer.text.startswith("Page 1 of 1 ·")


async def test_history_pages_newest_first_with_page_n_of_m(make_bot: BotFactory) -> None:
    await make_bot()
    ada = member_named("Ada")
    for city in ("Paris", "Rome", "Oslo", "Lima", "Kyiv", "Quito"):
        await tell(f"I live in {city}", ada)  # 6 turns: 2 pages of 3 whole turns

    def page_text(message: discord.Message) -> str:
        return "\n".join(f.value for f in message.embeds[0].fields)

    [newest] = await tell("!history", ada)
    [oldest] = await tell("!history 2", ada)
    assert newest.embeds[0].footer.text.startswith("Page 1 of 2 · page 1 is the newest · turns 4–6")
    assert oldest.embeds[0].footer.text.startswith("Page 2 of 2 · page 1 is the newest · turns 1–3")
    assert all(c in page_text(newest) for c in ("Lima", "Kyiv", "Quito"))
    assert all(c in page_text(oldest) for c in ("Paris", "Rome", "Oslo"))
    assert "Quito" not in page_text(oldest) and "Paris" not in page_text(newest)
    assert "older: !history 2" in newest.embeds[0].footer.text
    # The memory items are listed on page 1 (the latest city), counted on the others.
    assert "city: Quito" in newest.embeds[0].description
    assert oldest.embeds[0].description.startswith("What I remember about you: 1 item")

    [beyond] = await tell("!history 9", ada)
    assert "There is no page 9" in beyond.embeds[0].fields[0].value


async def test_members_only_see_and_erase_their_own_memory(make_bot: BotFactory) -> None:
    bot = await make_bot()
    ada, bob = member_named("Ada"), member_named("Bob")
    await tell("My name is Ada and I live in Lisbon", ada)
    await tell("My name is Bob and I live in Oslo", bob)

    [bobs] = await tell("!history", bob)
    text = bobs.embeds[0].description + "".join(f.value for f in bobs.embeds[0].fields)
    assert "Bob" in text and "Oslo" in text
    assert "Ada" not in text and "Lisbon" not in text

    [erased] = await tell("!forget", bob)
    assert "4 history items" in erased.content and "Bob" in erased.content
    assert await bot.chat.store.all_items(UserKey.parse(f"discord:{bob.id}")) == []
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{bob.id}"))).facts() == {}
    # Ada is untouched.
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{ada.id}"))).facts() == {
        "city": "Lisbon",
        "name": "Ada",
    }
    assert len(await bot.chat.store.all_items(UserKey.parse(f"discord:{ada.id}"))) == 4


async def test_forget_says_what_was_erased_and_the_bot_then_knows_nothing(
    make_bot: BotFactory,
) -> None:
    await make_bot()
    ada = member_named("Ada")
    await tell("My name is Ada and I live in Lisbon", ada)
    [erased] = await tell("!forget", ada)
    assert erased.content.startswith("Done. I erased 4 history items")
    assert "name (Ada)" in erased.content and "city (Lisbon)" in erased.content

    [again] = await tell("!forget", ada)
    assert again.content.startswith("There was nothing to forget")
    [empty] = await tell("!history", ada)
    assert empty.embeds[0].description == "**Memory**\n(nothing remembered)"
    assert empty.embeds[0].fields[0].value.startswith("Empty")
    [answer] = await tell("What's my city?", ada)
    assert answer.content == "I don't know your city yet."


async def test_help_replaces_the_default_help_command(make_bot: BotFactory) -> None:
    bot = await make_bot()
    assert bot.help_command is None
    [shown] = await tell("!help", member_named("Ada"))
    assert "!history [page]" in shown.content and "!forget" in shown.content
    assert "/history" in shown.content
    assert "No Category" not in shown.content  # discord.py's default help page


async def test_bad_arguments_get_a_usage_hint(make_bot: BotFactory) -> None:
    await make_bot()
    ada = member_named("Ada")
    for argument in ("soon", "0", "-3"):
        with pytest.raises(commands.BadArgument):  # dpytest re-raises handled errors
            await tell(f"!history {argument}", ada)
        [hint] = drain()
        assert hint.content.startswith("Usage: `!history [page=1]`"), hint.content
        assert "Traceback" not in hint.content and "Converting" not in hint.content


async def test_unknown_command_gets_a_hint_in_chat_channels_and_is_not_chat(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    ada = member_named("Ada")
    with pytest.raises(commands.CommandNotFound):
        await tell("!remember my name is Ada", ada)
    [hint] = drain()
    assert hint.content == "I don't know that command. Try `!help`."
    assert await bot.chat.store.all_items(UserKey.parse(f"discord:{ada.id}")) == []


async def test_a_failing_command_answers_briefly_and_logs_the_traceback(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot()

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database path /secret/memory.db is locked")

    monkeypatch.setattr(bot.chat.commands, "history_view", broken)
    ada = member_named("Ada")
    with (
        caplog.at_level(logging.ERROR, logger="bot.frontends.discord.cogs.errors"),
        pytest.raises(commands.CommandInvokeError),
    ):
        await tell("!history", ada)
    [reply] = drain()
    assert reply.content == COMMAND_FAILED
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].exc_info[0] is RuntimeError
    # The bot keeps answering.
    [answer] = await tell("My name is Ada", ada)
    assert "Ada" in answer.content


async def test_oversized_history_items_stay_within_embed_limits(
    make_bot: BotFactory, wire: Wire
) -> None:
    huge = "Z" * 30_000
    calls = [
        function_call("save_facts", {"name": f"N{n} {huge}"}, call_id=f"call_{n}")
        for n in range(20)
    ]
    model = ScriptedModel([calls, [assistant_message("Done. " + "word " * 3000)]])
    bot = await make_bot(model=model)
    ada = member_named("Ada")

    sent = await tell("x" * 1990, ada)
    model.assert_complete()
    [turn] = [m for m in sent if m.embeds]
    embed = turn.embeds[0]
    assert within_limits(embed), embed.to_dict()
    # 22 rendered items of up to 1,000 characters: the 6,000 total forced visible cuts.
    assert len(embed.fields) == 1 + 20 + 1
    assert SHORTENED_NOTE in embed.footer.text
    assert any(f.value.endswith(TRUNCATED) for f in embed.fields)

    # 42 stored items in one turn: user, 20 calls, 20 outputs, answer, on one page (a page
    # holds whole turns). The 30,000-character arguments were stored as a short note (issue
    # 10); the 22 lines still fit one embed's fields.
    [shown] = await tell("!history", ada)
    assert within_limits(shown.embeds[0])
    assert shown.embeds[0].footer.text.startswith("Page 1 of 1 · page 1 is the newest · turn 1")
    assert len(shown.embeds[0].fields) == 22
    stored = await bot.chat.store.all_items(UserKey.parse(f"discord:{ada.id}"))
    calls_stored = [i for i in stored if i.get("type") == "function_call"]
    assert len(calls_stored) == 20
    assert all(len(i["arguments"]) <= MAX_STORED_TOOL_CHARS for i in calls_stored)
    # Limits hold on what was sent, not just on the objects.
    assert wire.payloads
    for payload in wire.payloads:
        for data in payload.get("embeds", []):
            assert within_limits(discord.Embed.from_dict(data))


async def test_slash_commands_answer_ephemerally_and_ping_nobody(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot()
    channel = dpytest.get_config().channels[0]
    ada, bob = member_named("Ada"), member_named("Bob")
    await tell("My name is Ada and I live in Lisbon", ada)
    await tell("My name is Bob and I live in Oslo", bob)
    assert {c.name for c in bot.tree.get_commands()} == SLASH_COMMANDS

    [history] = await slash(bot, monkeypatch, "history", ada, channel, page=1)
    [help_] = await slash(bot, monkeypatch, "help", ada, channel)
    [bad_page] = await slash(bot, monkeypatch, "history", ada, channel, page=0)
    [export] = await slash(bot, monkeypatch, "export", ada, channel)
    [forget] = await slash(bot, monkeypatch, "forget", bob, channel)
    for response in (history, help_, bad_page, export, forget):
        assert response["data"]["flags"] & EPHEMERAL, response
        assert response["data"]["allowed_mentions"] == NO_PING, response

    embed = history["data"]["embeds"][0]
    shown = embed["description"] + "".join(f["value"] for f in embed["fields"])
    assert "Lisbon" in shown and "Oslo" not in shown  # the caller's memory, no one else's
    assert "/history" in help_["data"]["content"]
    assert bad_page["data"]["content"].startswith("Usage: `/history")
    exported = json.loads(export["files"][0])
    assert exported["facts"]["city"]["value"] == "Lisbon" and "Oslo" not in str(exported)
    assert "Oslo" in forget["data"]["content"]
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{bob.id}"))).facts() == {}
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{ada.id}"))).facts() != {}


async def test_commands_work_in_dms_and_unlisted_channels(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    await make_bot(settings_for(tmp_path, chat_channel_ids=[]))
    quiet = add_text_channel("general", 444444444444444444)
    ada = member_named("Ada")
    dm = await ada.create_dm()
    await dpytest.message("My name is Ada", channel=dm, member=ada)
    drain()
    await dpytest.message("!history", channel=quiet, member=ada)
    [shown] = drain()
    assert shown.channel.id == quiet.id and "name: Ada" in shown.embeds[0].description


async def test_export_sends_the_callers_data_privately_as_json(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    await make_bot()
    ada, bob = member_named("Ada"), member_named("Bob")
    await tell("My name is Ada and I live in Lisbon", ada)
    await tell("My name is Bob and I live in Oslo", bob)
    before = set(Path.cwd().glob("dpytest_*.dat"))
    sent = await tell("!export", ada)
    notice = [m for m in sent if m.guild is not None]
    private = [m for m in sent if m.guild is None]
    assert [m.content for m in notice] == ["I've sent your data to you in a direct message."]
    assert len(private) == 1 and isinstance(private[0].channel, discord.DMChannel)
    assert [a.filename for a in private[0].attachments] == ["memory-export.json"]
    [written] = set(Path.cwd().glob("dpytest_*.dat")) - before
    data = json.loads(written.read_text())
    assert data["user"] == f"discord:{ada.id}"
    assert data["facts"]["city"]["value"] == "Lisbon"
    assert "Oslo" not in written.read_text()
    assert data["history"][0]["content"] == "My name is Ada and I live in Lisbon"
