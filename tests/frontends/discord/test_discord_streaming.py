"""A real model's long answer appears progressively in Discord: one message, edited at most
about once a second, never over 2,000 characters; the stored history is the whole answer."""

from __future__ import annotations

import time
from pathlib import Path

import discord.ext.test as dpytest
from discord_support import BotFactory, Wire, drain, settings_for
from openai_server import FakeOpenAIServer, Reply

from bot.core.domain import UserKey, message_text
from bot.frontends.discord.cogs.chat import WRITING
from bot.frontends.discord.render import MESSAGE_LIMIT

pytest_plugins = ["discord_fixtures"]


async def test_long_answer_streams_by_editing_one_message(
    make_bot: BotFactory, wire: Wire, tmp_path: Path
) -> None:
    answer = " ".join(f"word{n}" for n in range(500))  # about 3,400 characters: two messages
    with FakeOpenAIServer() as server:
        server.enqueue(Reply(answer, chunk_size=60, delay=0.05))  # ~57 pieces over ~3 s
        settings = settings_for(
            tmp_path,
            bot_model="test-model",
            openai_base_url=server.base_url,
            openai_api_key="test-key",
            show_turn_embed=False,
        )
        bot = await make_bot(settings)
        started = time.monotonic()
        await dpytest.message("tell me a long story")
        elapsed = time.monotonic() - started
        assert server.requests[0].body["stream"] is True

    sends = [p for p, kind in zip(wire.payloads, wire.kinds, strict=True) if kind == "send"]
    edits = [p for p, kind in zip(wire.payloads, wire.kinds, strict=True) if kind == "edit"]
    previews = [p["content"] for p in sends + edits if p["content"].endswith(WRITING)]
    assert all(len(p["content"]) <= MESSAGE_LIMIT for p in sends + edits)
    assert all(p["allowed_mentions"] == {"parse": []} for p in sends + edits)
    assert len(previews) >= 2  # it grew while being written
    assert len(previews) <= elapsed / 1.0 + 1  # at most about one edit a second
    assert all(answer.startswith(p[: -len(WRITING)]) for p in previews)
    # One message was sent as the preview and edited into part one; part two followed.
    assert len(sends) == 2 and sends[0]["content"].endswith(WRITING)
    assert " ".join([edits[-1]["content"], sends[1]["content"]]) == answer
    assert len(drain()) == 2
    [member] = dpytest.get_config().members[:1]
    stored = await bot.chat.store.all_items(UserKey.parse(f"discord:{member.id}"))
    assert [message_text(i) for i in stored if i.get("role") == "assistant"] == [answer]


async def test_quick_answers_are_not_streamed(make_bot: BotFactory, wire: Wire) -> None:
    await make_bot()
    await dpytest.message("My name is Ada")
    contents = [p["content"] for p in wire.payloads if p.get("content")]
    assert contents == ["Nice to meet you, Ada! I'll remember your name."]
