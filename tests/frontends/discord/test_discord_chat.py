"""The chat cog, driven through dpytest: routing, replies, the turn embed, mention safety."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message
from discord.ext import commands
from discord.ext.test import backend
from discord_support import (
    NO_PING,
    BotFactory,
    Wire,
    add_text_channel,
    drain,
    member_named,
    other_bot,
    raw_message,
    settings_for,
    stop_bot,
    webhook_message,
)

from bot.core.domain import UserKey, message_text
from bot.core.failures import ANSWER_FAILED, NOTHING_STORED
from bot.frontends.discord.render import MESSAGE_LIMIT

pytest_plugins = ["discord_fixtures"]

LISTED = 222222222222222222
UNLISTED = 333333333333333333


def field_texts(message: discord.Message) -> list[str]:
    return [f"{f.name}: {f.value}" for embed in message.embeds for f in embed.fields]


async def test_seed_flow_across_two_bots_on_one_memory_file(
    make_bot: BotFactory, tmp_path: Path, wire: Wire
) -> None:
    settings = settings_for(tmp_path)
    first = await make_bot(settings)
    ada = member_named("Ada")
    channel = dpytest.get_config().channels[0]

    await dpytest.message("My name is Ada and I live in Lisbon", channel=channel, member=ada)
    [told] = drain()
    assert told.content == "Nice to meet you, Ada! I'll remember that you live in Lisbon."
    saved = field_texts(told)
    assert any("save_facts" in line and "Lisbon" in line for line in saved), saved
    await stop_bot(first)

    # A new process would see only the file: a second bot with its own store and service.
    second = await make_bot(settings)
    assert second.chat is not first.chat
    ada_again = member_named("Ada", user_id=ada.id)
    channel = dpytest.get_config().channels[0]
    await dpytest.message("What's my city?", channel=channel, member=ada_again)
    [answer] = drain()
    assert answer.content == "Your city is Lisbon."
    embed = answer.embeds[0]
    # A tool call and its output are one entry: what is counted is what is listed.
    assert embed.title == "Added to memory: 3 entries"
    lines = field_texts(answer)
    tool_lines = [line for line in lines if line.startswith("tool: read_facts(")]
    assert len(tool_lines) == 1, lines
    assert json.dumps("Lisbon") in tool_lines[0] and "->" in tool_lines[0]
    items = await second.chat.store.all_items(UserKey.parse(f"discord:{ada.id}"))
    calls = [item.get("name") for item in items if item.get("type") == "function_call"]
    assert calls == ["save_facts", "read_facts"]


async def test_two_members_never_see_each_others_facts(make_bot: BotFactory) -> None:
    await make_bot()
    ada, bob = member_named("Ada"), member_named("Bob")
    channel = dpytest.get_config().channels[0]
    await dpytest.message("My name is Ada and I live in Lisbon", channel=channel, member=ada)
    await dpytest.message("My name is Bob and I live in Oslo", channel=channel, member=bob)
    drain()

    await dpytest.message("What do you know about me?", channel=channel, member=bob)
    [to_bob] = drain()
    assert "Bob" in to_bob.content and "Oslo" in to_bob.content
    assert "Ada" not in to_bob.content and "Lisbon" not in to_bob.content
    assert not any("Lisbon" in line or "Ada" in line for line in field_texts(to_bob))

    await dpytest.message("What's my city?", channel=channel, member=ada)
    [to_ada] = drain()
    assert to_ada.content == "Your city is Lisbon."


async def test_routing_dm_mention_and_listed_channel_are_answered(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = await make_bot(settings_for(tmp_path, chat_channel_ids=[LISTED]))
    listed = add_text_channel("chat", LISTED)
    unlisted = add_text_channel("general", UNLISTED)
    ada = member_named("Ada")

    await dpytest.message("My name is Ada", channel=listed, member=ada)
    [reply] = drain()
    assert reply.channel.id == LISTED and "Ada" in reply.content

    await dpytest.message(f"<@{bot.user.id}> I live in Lisbon", channel=unlisted, member=ada)
    [reply] = drain()
    assert reply.channel.id == UNLISTED and "Lisbon" in reply.content
    stored = await bot.chat.store.all_items(UserKey.parse(f"discord:{ada.id}"))
    said = [message_text(i) for i in stored if i.get("role") == "user"]
    assert said[-1] == "I live in Lisbon"  # the mention itself is not part of the text

    # A reply to one of the bot's messages (without a ping) is addressed to it too.
    reference = {"message_id": reply.id, "channel_id": UNLISTED, "guild_id": reply.guild.id}
    await raw_message(
        "What's my name?",
        unlisted,
        ada,
        type=19,
        message_reference=reference,
        referenced_message=backend.facts.dict_from_message(reply),
    )
    [answer] = drain()
    assert answer.content == "Your name is Ada."

    dm = await ada.create_dm()
    await dpytest.message("What's my city?", channel=dm, member=ada)
    [reply] = drain()
    assert isinstance(reply.channel, discord.DMChannel)
    # Same person, same memory, whether in a server or a DM.
    assert reply.content == "Your city is Lisbon."


async def test_routing_ignores_unlisted_channels_bots_webhooks_and_itself(
    make_bot: BotFactory, tmp_path: Path, wire: Wire
) -> None:
    bot = await make_bot(settings_for(tmp_path, chat_channel_ids=[LISTED]))
    listed = add_text_channel("chat", LISTED)
    unlisted = add_text_channel("general", UNLISTED)
    ada = member_named("Ada")
    robot = other_bot()
    me = listed.guild.get_member(bot.user.id)

    await dpytest.message("My name is Ada", channel=unlisted, member=ada)
    await dpytest.message("My name is Robo", channel=listed, member=robot)
    await dpytest.message(f"<@{bot.user.id}> My name is Robo", channel=unlisted, member=robot)
    await dpytest.message("My name is Me", channel=listed, member=me)
    await webhook_message("My name is Hook", listed)
    with pytest.raises(commands.CommandNotFound):  # dpytest re-raises handled errors
        await dpytest.message("!notacommand", channel=unlisted, member=ada)
    # @everyone addresses everyone, not the bot.
    await raw_message("@everyone My name is Ada", unlisted, ada, mention_everyone=True)

    assert drain() == []
    assert wire.payloads == [] and wire.typing == []
    for key in (ada.id, robot.id, bot.user.id):
        assert await bot.chat.store.all_items(UserKey.parse(f"discord:{key}")) == []


async def test_empty_mention_gets_a_hint(make_bot: BotFactory) -> None:
    bot = await make_bot()
    await dpytest.message(f"<@{bot.user.id}>")
    [reply] = drain()
    assert "!help" in reply.content


async def test_typing_indicator_runs_before_the_reply(make_bot: BotFactory, wire: Wire) -> None:
    await make_bot()
    channel = dpytest.get_config().channels[0]
    await dpytest.message("My name is Ada", channel=channel)
    assert wire.typing == [channel.id]
    assert wire.typed_before_payload == [0]
    assert len(drain()) == 1


async def test_long_answer_is_split_with_code_fences_intact(
    make_bot: BotFactory, wire: Wire
) -> None:
    code = "\n".join(f"    total += values[{n}]  # keep a running sum" for n in range(60))
    prose = " ".join(f"word{n}" for n in range(400))
    answer = f"Here you go.\n\n```python\ndef add(values):\n    total = 0\n{code}\n```\n\n{prose}"
    answer += "\n\n```\n" + "plain block line\n" * 40 + "```"
    assert len(answer) >= 5000
    model = ScriptedModel([[assistant_message(answer)]])
    await make_bot(model=model)

    await dpytest.message("show me some code")
    sent = drain()
    model.assert_complete()
    assert len(sent) >= 3
    for message in sent:
        assert 0 < len(message.content) <= MESSAGE_LIMIT
        fences = [ln for ln in message.content.split("\n") if ln.lstrip().startswith("```")]
        assert len(fences) % 2 == 0, message.content  # every message renders as valid markdown
    # Nothing lost or cut mid-word: the words of the parts are the words of the answer.
    glued = [w for m in sent for w in m.content.split() if not w.startswith("```")]
    assert glued == [w for w in answer.split() if not w.startswith("```")]
    # The code block reopens with its language after a cut.
    assert any(m.content.startswith("```python\n") for m in sent[1:])
    # Only the last part carries the turn embed; only the first replies to the question.
    assert [bool(m.embeds) for m in sent] == [False] * (len(sent) - 1) + [True]
    references = ["message_reference" in p for p in wire.payloads]
    assert references == [True] + [False] * (len(sent) - 1)
    assert wire.payloads[0]["message_reference"]["fail_if_not_exists"] is False


async def test_nothing_the_bot_sends_can_ping(make_bot: BotFactory, wire: Wire) -> None:
    bot = await make_bot()
    guild = dpytest.get_config().guilds[0]
    role = backend.make_role("Moderators", guild, mentionable=True)
    ada = member_named("Ada")
    pingy = f"Hi @everyone and @here, <@&{role.id}> and <@{ada.id}>!"
    bot.chat.agent.model = ScriptedModel([[assistant_message(pingy)]])
    channel = dpytest.get_config().channels[0]

    await dpytest.message("say hi to everyone", channel=channel, member=ada)
    await dpytest.message("!history", channel=channel, member=ada)
    await dpytest.message("!help", channel=channel, member=ada)
    await dpytest.message("!forget", channel=channel, member=ada)
    with pytest.raises(commands.BadArgument):
        await dpytest.message("!history many", channel=channel, member=ada)
    sent = drain()

    assert sent[0].content == pingy  # shown as written...
    assert any(pingy in f.value for f in sent[1].embeds[0].fields)  # ...also in !history
    # ...but every payload tells Discord to notify nobody: no everyone/roles/users parsing,
    # no explicit user or role ids, and no ping of the replied-to author.
    assert len(wire.payloads) == len(sent) == 5
    for payload in wire.payloads:
        assert payload["allowed_mentions"] == NO_PING, payload


async def test_a_failing_model_gets_a_short_reply_and_the_next_message_is_answered(
    make_bot: BotFactory,
) -> None:
    model = ScriptedModel(
        [ModelStep.raise_error(RuntimeError("upstream 500")), [assistant_message("back again")]]
    )
    await make_bot(model=model)
    await dpytest.message("hello")
    await dpytest.message("hello again")
    first, second = drain()
    assert first.content.startswith("Sorry") and NOTHING_STORED in first.content
    assert "upstream" not in first.content
    assert not first.embeds
    assert second.content == "back again"


async def test_an_exception_in_one_message_does_not_stop_the_next(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot()
    real_turn = bot.chat.turn
    calls = 0

    async def flaky_turn(user_key: str, text: str, **kwargs: Any):  # noqa: ANN202
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("secret internals")
        return await real_turn(user_key, text, **kwargs)

    monkeypatch.setattr(bot.chat, "turn", flaky_turn)
    with caplog.at_level(logging.ERROR, logger="bot.frontends.discord.cogs.chat"):
        await dpytest.message("My name is Ada")
        await dpytest.message("My name is Ada")
    first, second = drain()
    assert first.content == ANSWER_FAILED and "secret" not in first.content
    assert "Nice to meet you, Ada" in second.content
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


async def test_flooding_gets_one_slow_down_and_nothing_is_stored(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    from bot.core.admission import SLOW_DOWN

    bot = await make_bot(settings_for(tmp_path, rate_limit_per_minute=1))
    member = dpytest.get_config().members[0]
    for text in ("My name is Ada", "I live in Lisbon", "I live in Porto", "I live in Faro"):
        await dpytest.message(text, member=member)
    replies = [m.content for m in drain()]
    assert replies == ["Nice to meet you, Ada! I'll remember your name.", SLOW_DOWN]
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{member.id}"))).facts() == {
        "name": "Ada"
    }
    assert len(await bot.chat.store.all_items(UserKey.parse(f"discord:{member.id}"))) == 4
