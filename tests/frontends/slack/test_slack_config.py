"""Issue 19 on Slack, over signed HTTP against the fake Slack: `/memory config` only for
workspace admins (users.info) and ADMIN_USER_IDS, instructions, access lists, limits and
`/memory usage`, each in the workspace the request came from."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from slack_api_server import APP_TOKEN, TEAM_ID, FakeSlackAPI, mention
from slack_support import SlackBot, slack_bot, slack_settings

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.config_text import NOT_ADMIN
from bot.frontends.slack.app import serve_slack
from bot.memory import open_store
from bot.models import select_model

SERVER = f"slack:{TEAM_ID}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_config_by_a_non_admin_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        for typed in ("config limit turns-per-user 1", "config", "config instructions Be rude"):
            answer = await bot.command("U1", typed)
            assert answer.body["text"] == NOT_ADMIN
            assert answer.body["response_type"] == "ephemeral"
        asked = bot.api.of("users.info")
        assert [c.body["user"] for c in asked] == ["U1", "U1", "U1"]  # checked every time
        assert await bot.chat.store.place_settings(SERVER) == []
        # Typed as a message in a DM, the same command is refused the same way.
        reply = await bot.dm("U1", "!config limit turns-per-user 1")
        assert reply.body["text"] == NOT_ADMIN
        assert await bot.chat.store.place_settings(SERVER) == []


async def test_a_workspace_admin_sets_instructions_limits_and_lists(tmp_path: Path) -> None:
    async with FakeSlackAPI() as api:
        api.admins.add("UADMIN")
        async with slack_bot(tmp_path / "m.db", api=api) as bot:
            typed = "config instructions Answer like a librarian.\nBe brief."
            said = await bot.command("UADMIN", typed)
            assert said.body["text"].startswith("Saved the instructions of this server")
            here = await bot.command("UADMIN", "config instructions here Use emoji.", "C0QUIZ")
            assert here.body["text"].startswith("Saved the instructions of channel C0QUIZ")
            limit = await bot.command("UADMIN", "config limit turns-per-user 1")
            assert "1 message a day per person" in limit.body["text"]
            blocked = await bot.command("UADMIN", "config block user <@U9|mallory>")
            assert blocked.body["text"] == "That user is now blocked."

            shown = (await bot.command("UADMIN", "config")).body["text"]
            assert "Answer like a librarian.\nBe brief." in shown
            assert "instructions in C0QUIZ: Use emoji." in shown
            assert "blocked users: U9" in shown
            assert "turns-per-user: 1 message a day per person" in shown
            rows = {(r.channel, r.name) for r in await bot.chat.store.place_settings(SERVER)}
            assert rows == {
                ("", "instructions"),
                ("C0QUIZ", "instructions"),
                ("", "daily_turns_per_user"),
                ("", "block_users"),
            }

            # The limit and the block list act on the next messages, in DMs too (Slack
            # DMs belong to the workspace).
            first = await bot.dm("U1", "My name is Ada")
            assert "Ada" in first.body["text"]
            second = await bot.dm("U1", "What's my name?")
            assert second.body["text"].startswith("You've reached the daily limit of 1 message ")
            refused = await bot.dm("U9", "hello")
            assert refused.body["text"].startswith("Sorry, this server's admins haven't allowed")
            assert await bot.chat.store.all_items(SlackBot.key("U9")) == []

            usage = (await bot.command("U1", "usage")).body["text"]
            assert "today: 1 turn, 0 tokens" in usage
            assert "1 of 1 messages" in usage
            report = (await bot.command("UADMIN", "config usage")).body["text"]
            assert "U1: 1 turn" in report


async def test_admin_user_ids_may_configure_without_being_a_workspace_admin(
    tmp_path: Path,
) -> None:
    async with slack_bot(tmp_path / "m.db", admin_user_ids="UOPS") as bot:
        answer = await bot.command("UOPS", "config where all")
        assert answer.body["text"] == "I now answer in every channel."
        assert bot.api.of("users.info") == []  # ADMIN_USER_IDS needs no lookup
        # Now a plain channel message (no mention) is answered, in its thread.
        before = bot.api.count("chat.postMessage")
        plain = {**mention("U1", "My name is Ada"), "type": "message", "text": "My name is Ada"}
        plain["channel_type"] = "channel"
        assert await bot.sender.event(plain) == 200
        [reply] = (await bot.api.wait_for("chat.postMessage", before + 1))[before:]
        assert reply.body["thread_ts"] == plain["ts"]
        assert "Ada" in reply.body["text"]


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_the_slack_front_end_reports_its_connection_for_healthz(
    tmp_path: Path, mode: str
) -> None:
    async with FakeSlackAPI() as api:
        extra = {"slack_app_token": APP_TOKEN} if mode == "socket" else {"slack_port": free_port()}
        settings = slack_settings(tmp_path / "m.db", api, **extra)
        async with open_store(settings) as store:
            chat = ChatService(store, select_model(settings), ChatConfig.from_settings(settings))
            chat.connections.expect("slack")
            assert chat.connections.problems() == ["slack: not connected yet"]
            stop = asyncio.Event()
            running = asyncio.create_task(serve_slack(settings, chat, stop, host="127.0.0.1"))
            deadline = asyncio.get_running_loop().time() + 20
            while chat.connections.problems() and not running.done():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            assert chat.connections.problems() == []
            stop.set()
            await running
            assert chat.connections.problems() == ["slack: stopped"]
