"""Discord edges (issue 10): a flood against a slow model, commands after an @mention,
attachment-only messages, `!export` with closed DMs, full storage, and very long answers."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message
from discord_support import BotFactory, add_text_channel, drain, member_named, settings_for

from bot.core.admission import SLOW_DOWN
from bot.core.domain import UserKey, message_text
from bot.core.store import StoreFull
from bot.frontends.discord.cogs.chat import ATTACHMENTS_NOT_READ
from bot.frontends.discord.cogs.memory import DMS_CLOSED
from bot.frontends.discord.render import MESSAGE_LIMIT

pytest_plugins = ["discord_fixtures"]

UNLISTED = 555_000_000_000_000_002
FLOOD = 20
QUEUE = 3


async def test_a_flood_against_a_slow_model_gets_one_slow_down(
    make_bot: BotFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_in = asyncio.Event()
    answered: list[str] = []

    async def slow(call: ModelCall) -> list:
        # The model answers only once every message of the flood has reached the service.
        await asyncio.wait_for(all_in.wait(), timeout=60)
        text = message_text([i for i in call.input if i.get("role") == "user"][-1])
        answered.append(text)
        return [assistant_message(f"answer to {text}")]

    model = ScriptedModel([ModelStep.respond(slow) for _ in range(FLOOD + 2)])
    settings = settings_for(tmp_path, max_queued_per_user=QUEUE, rate_limit_per_minute=FLOOD)
    bot = await make_bot(settings, model=model)
    arrived = 0
    turn = bot.chat.turn

    async def counting_turn(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrived
        arrived += 1
        if arrived == FLOOD:
            all_in.set()
        return await turn(*args, **kwargs)

    monkeypatch.setattr(bot.chat, "turn", counting_turn)
    member = dpytest.get_config().members[0]
    await asyncio.gather(*(dpytest.message(f"m{n}", member=member) for n in range(FLOOD)))
    replies = [m.content for m in drain()]
    # One running turn plus QUEUE waiting were answered; the rest got ONE slow-down reply.
    assert replies.count(SLOW_DOWN) == 1
    assert sorted(r for r in replies if r != SLOW_DOWN) == sorted(
        f"answer to {t}" for t in answered
    )
    assert len(answered) == 1 + QUEUE
    # Refused messages took no rate tokens: the next message after the flood is answered.
    await dpytest.message("one more", member=member)
    assert [m.content for m in drain()] == ["answer to one more"]


async def test_commands_work_when_addressed_by_mention(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = await make_bot(settings_for(tmp_path, chat_channel_ids=""))
    general = add_text_channel("general", UNLISTED)
    ada = member_named("Ada")
    await dpytest.message(f"<@{bot.user.id}> My name is Ada", channel=general, member=ada)
    assert "Ada" in drain()[0].content

    await dpytest.message(f"<@{bot.user.id}> !forget", channel=general, member=ada)
    [reply] = drain()
    assert "erased" in reply.content
    assert await bot.chat.store.all_items(UserKey.parse(f"discord:{ada.id}")) == []
    assert (await bot.chat.store.memory(UserKey.parse(f"discord:{ada.id}"))).facts() == {}

    # Any spacing, and an unknown command gets its hint because the bot was addressed.
    await dpytest.message(f"<@{bot.user.id}>   !help", channel=general, member=ada)
    assert "!history" in drain()[0].content
    with pytest.raises(discord.ext.commands.CommandNotFound):  # dpytest re-raises it
        await dpytest.message(f"<@{bot.user.id}> !dance", channel=general, member=ada)
    assert [m.content for m in drain()] == ["I don't know that command. Try `!help`."]
    assert (
        await bot.chat.store.all_items(UserKey.parse(f"discord:{ada.id}")) == []
    )  # nothing was chat


async def test_an_attachment_only_message_says_attachments_are_not_read(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = await make_bot()
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG")
    member = dpytest.get_config().members[0]
    await dpytest.message("", member=member, attachments=[picture])
    assert [m.content for m in drain()] == [ATTACHMENTS_NOT_READ]
    assert await bot.chat.store.all_items(UserKey.parse(f"discord:{member.id}")) == []


async def test_export_with_closed_dms_says_how_to_get_it(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await make_bot()
    ada = member_named("Ada")

    async def refuse(*args: Any, **kwargs: Any) -> None:
        # What Discord answers when a member's privacy settings block DMs from the bot.
        response = SimpleNamespace(status=403, reason="Forbidden")
        raise discord.Forbidden(response, {"code": 50007, "message": "Cannot send messages"})

    monkeypatch.setattr(discord.Member, "send", refuse)
    await dpytest.message("!export", channel=dpytest.get_config().channels[0], member=ada)
    assert [m.content for m in drain()] == [DMS_CLOSED]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_full_storage_in_commands_answers_briefly(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot()
    member = dpytest.get_config().members[0]
    await dpytest.message("My name is Ada", member=member)
    drain()

    async def full(*args: Any, **kwargs: Any) -> None:
        raise StoreFull("the disk holding memory.db is full: free space on it")

    monkeypatch.setattr(bot.chat.store, "forget", full)
    monkeypatch.setattr(bot.chat.store, "commit_turn", full)
    with pytest.raises(discord.ext.commands.CommandInvokeError):  # dpytest re-raises it
        await dpytest.message("!forget", member=member)
    await dpytest.message("I live in Lisbon", member=member)
    await dpytest.message("!history", member=member)
    forget, turn, history = drain()
    assert forget.content == (
        "Sorry, I couldn't erase your memory: the bot's storage is full. That's for the "
        "bot's operator to fix, not you; please try again later."
    )
    assert "the bot's storage is full" in turn.content
    assert history.embeds[0].description.endswith("name: Ada")
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 1 and logged[0].exc_info is None


async def test_a_100000_character_answer_is_a_few_messages(make_bot: BotFactory) -> None:
    answer = "word " * 20_000
    await make_bot(model=ScriptedModel([[assistant_message(answer)]]))
    await dpytest.message("say a lot")
    sent = drain()
    assert len(sent) <= 7
    assert all(len(m.content) <= MESSAGE_LIMIT for m in sent)
    assert sent[-1].content.endswith("(answer cut: it was 99,999 characters; the limit is 12,000)")
