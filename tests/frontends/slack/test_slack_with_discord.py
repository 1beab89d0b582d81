"""Discord and Slack in one process over one chat service: one memory file, separate keys."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from discord_support import allow_dpytest_to_cache_members, drain, stop_bot
from slack_api_server import APP_TOKEN, FakeSlackAPI, dm, events_api
from slack_support import SlackBot, slack_bot, slack_settings

from bot.app import serve
from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.frontends.discord.bot import MemoryBot
from bot.memory import open_store
from bot.models import select_model


async def test_both_front_ends_answer_over_one_memory(tmp_path: Path) -> None:
    async with FakeSlackAPI() as api:
        settings = slack_settings(tmp_path / "m.db", api, chat_channel_ids="*")
        async with open_store(settings) as store:
            chat = ChatService(store, select_model(settings), ChatConfig.from_settings(settings))
            discord_bot = MemoryBot(settings=settings, chat=chat)
            allow_dpytest_to_cache_members(discord_bot)
            dpytest.configure(discord_bot, guilds=1, text_channels=1, voice_channels=0, members=1)
            await discord_bot._async_setup_hook()
            await discord_bot.setup_hook()
            try:
                async with slack_bot(tmp_path / "m.db", api=api, chat=chat) as slack:
                    await dpytest.message("I'm Ada from Lisbon")
                    await slack.dm("U1", "I'm Bob from Oslo")
                    await dpytest.message("What's my city?")
                    on_slack = await slack.dm("U1", "What's my city?")
                    on_discord = [m.content for m in drain()]
            finally:
                await stop_bot(discord_bot)
            member = dpytest.get_config().members[0]
            assert on_discord[-1] == "Your city is Lisbon."
            assert on_slack.body["text"] == "Your city is Oslo."
            assert (await store.memory(UserKey.parse(f"discord:{member.id}"))).facts() == {
                "name": "Ada",
                "city": "Lisbon",
            }
            assert (await store.memory(SlackBot.key("U1"))).facts() == {
                "name": "Bob",
                "city": "Oslo",
            }


async def test_run_discord_and_slack_shares_one_chat_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}
    connection_ends = asyncio.Event()

    async def connect(self: MemoryBot, token: str, **_: Any) -> None:
        # Stands in for the Discord gateway (no network in tests); "disconnects" on demand.
        started.update(token=token, chat=self.chat)
        await connection_ends.wait()

    monkeypatch.setattr(MemoryBot, "start", connect)
    async with FakeSlackAPI() as api:
        settings = slack_settings(
            tmp_path / "m.db", api, discord_token="discord-test-token", slack_app_token=APP_TOKEN
        )
        running = asyncio.create_task(serve(settings, "both"))
        await api.send_envelope(events_api(dm("U1", "I'm Ada from Lisbon"), "Ev1"))
        await api.wait_for("chat.postMessage")
        assert started["token"] == "discord-test-token"
        # The Discord bot's chat service is the one that stored the Slack turn.
        assert (await started["chat"].store.memory(SlackBot.key("U1"))).facts() == {
            "name": "Ada",
            "city": "Lisbon",
        }
        # When one front end stops, the other is stopped too and the call returns.
        connection_ends.set()
        await asyncio.wait_for(running, 30)
