"""The real Slack app over signed HTTP against a fake Slack on 127.0.0.1: conversations,
memory across a restart, private commands, and which messages are answered where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slack_api_server import BOT_USER_ID, FakeSlackAPI, dm, mention
from slack_support import SlackBot, slack_bot

from bot.core.domain import message_text


def tool_calls(items: list[dict]) -> list[str]:
    return [i["name"] for i in items if i.get("type") == "function_call"]


def assert_same_export(sent: dict[str, Any], fresh: dict[str, Any]) -> None:
    """The file sent holds what an export made just after holds; only the time it was made
    may differ (the two can fall in different seconds)."""
    assert sent["exported_at"] <= fresh["exported_at"]
    assert {**sent, "exported_at": None} == {**fresh, "exported_at": None}


async def test_seed_flow_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with FakeSlackAPI() as api:
        async with slack_bot(db, api=api) as bot:
            reply = await bot.dm("U1", "My name is Ada and I live in Lisbon")
            assert (
                reply.body["text"]
                == "Nice to meet you, Ada! I'll remember that you live in Lisbon."
            )
            assert reply.body["channel"] == "DU1"
        # A new app, chat service and store over the same memory file.
        async with slack_bot(db, api=api) as bot:
            reply = await bot.dm("U1", "What's my city?")
            assert reply.body["text"] == "Your city is Lisbon."
            items = await bot.chat.store.all_items(SlackBot.key("U1"))
            assert tool_calls(items) == ["save_facts", "read_facts"]
            # The context block lists what this turn stored, the tool call included.
            context = reply.body["blocks"][-1]
            assert context["type"] == "context"
            assert "read_facts()" in context["elements"][0]["text"]
    assert [c.method for c in api.calls].count("auth.test") == 2  # once per app start


async def test_two_users_are_isolated(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "I'm Ada from Lisbon")
        await bot.dm("U2", "I'm Bob from Oslo")
        assert (await bot.dm("U1", "What's my city?")).body["text"] == "Your city is Lisbon."
        assert (await bot.dm("U2", "What's my city?")).body["text"] == "Your city is Oslo."
        history = (await bot.command("U2", "history")).body["text"]
        assert "Oslo" in history and "Lisbon" not in history and "Ada" not in history
        assert (await bot.chat.store.memory(SlackBot.key("U1"))).facts() == {
            "name": "Ada",
            "city": "Lisbon",
        }


async def test_memory_commands_are_ephemeral(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "I'm Ada from Lisbon")
        posted = len(bot.api.of("chat.postMessage"))

        history = await bot.command("U1", "history")
        assert history.body["response_type"] == "ephemeral"
        assert "city: Lisbon" in history.body["text"]
        assert "[tool] save_facts" in history.body["text"]

        help_text = (await bot.command("U1", "help")).body["text"]
        assert "/memory history [page]" in help_text and "!history" not in help_text
        unknown = (await bot.command("U1", "dance")).body["text"]
        assert unknown == "Unknown command /memory dance. Try /memory help."

        export = await bot.command("U1", "export")
        assert export.body["response_type"] == "ephemeral"
        assert "direct messages" in export.body["text"]
        [opened] = bot.api.of("conversations.open")
        assert opened.body["users"] == "U1"
        [complete] = bot.api.of("files.completeUploadExternal")
        assert complete.body["channel_id"] == "DU1"
        [uploaded] = bot.api.uploads.values()
        assert_same_export(json.loads(uploaded), await bot.chat.commands.export(SlackBot.key("U1")))
        assert "Lisbon" in uploaded.decode()

        forget = await bot.command("U1", "forget")
        assert forget.body["response_type"] == "ephemeral"
        assert forget.body["text"].startswith("Done. I erased")
        assert (await bot.chat.store.memory(SlackBot.key("U1"))).facts() == {}
        # Nothing was said in the conversation itself.
        assert len(bot.api.of("chat.postMessage")) == posted
        reply = await bot.dm("U1", "What's my city?")
        assert "Lisbon" not in reply.body["text"]


async def test_text_commands_in_a_dm(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "I'm Ada from Lisbon")
        history = await bot.dm("U1", "!history")
        assert "city: Lisbon" in history.body["text"]
        assert history.body["blocks"][-1]["type"] == "section"  # no "stored" block for commands
        await bot.sender.event(dm("U1", "!export"))
        await bot.api.wait_for("files.completeUploadExternal")
        [uploaded] = bot.api.uploads.values()
        assert_same_export(json.loads(uploaded), await bot.chat.commands.export(SlackBot.key("U1")))
        assert "Lisbon" in uploaded.decode()


async def test_mentions_answer_in_threads_and_follow_ups_there(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        event = mention("U1", "I'm Ada from Lisbon")
        await bot.sender.event(event)
        [reply] = await bot.api.wait_for("chat.postMessage")
        assert reply.body["channel"] == "C0GENERAL"
        assert reply.body["thread_ts"] == event["ts"]
        assert reply.body["text"].startswith("Nice to meet you, Ada!")

        # Not for the bot: plain channel chatter, another thread, bots, edits, the bot itself.
        chatter = {"type": "message", "channel": "C0GENERAL", "channel_type": "channel"}
        ignored = [
            {**chatter, "user": "U1", "text": "hello all", "ts": "1.1"},
            {**chatter, "user": "U1", "text": "elsewhere", "ts": "1.2", "thread_ts": "9.9"},
            {**chatter, "user": "U7", "bot_id": "B7", "text": "beep", "ts": "1.3"},
            {**chatter, "subtype": "message_changed", "ts": "1.4", "thread_ts": event["ts"]},
            {**chatter, "user": BOT_USER_ID, "text": "me", "ts": "1.5", "thread_ts": event["ts"]},
            {**chatter, "subtype": "channel_join", "user": "U3", "text": "joined", "ts": "1.6"},
        ]
        for message in ignored:
            assert await bot.sender.event(message) == 200

        # A follow-up in the bot's thread needs no mention.
        follow_up = {**chatter, "user": "U1", "text": "What's my city?", "ts": "2.0"}
        await bot.sender.event({**follow_up, "thread_ts": event["ts"]})
        replies = await bot.api.wait_for("chat.postMessage", 2)
        assert replies[1].body["text"] == "Your city is Lisbon."
        assert replies[1].body["thread_ts"] == event["ts"]
        assert len(replies) == 2
        stored = await bot.chat.store.all_items(SlackBot.key("U1"))
        said = [message_text(i) for i in stored if i.get("role") == "user"]
        assert said == ["I'm Ada from Lisbon", "What's my city?"]


async def test_commands_typed_in_a_channel_stay_private(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "I'm Ada from Lisbon")
        await bot.sender.event(mention("U1", "!history"))
        [ephemeral] = await bot.api.wait_for("chat.postEphemeral")
        assert ephemeral.body["user"] == "U1"
        assert ephemeral.body["channel"] == "C0GENERAL"
        assert "city: Lisbon" in ephemeral.body["text"]
        assert len(bot.api.of("chat.postMessage")) == 1  # only the DM answer


async def test_slack_text_is_unescaped_for_the_model(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "I'm Ada from Lisbon &amp; Porto &lt;3")
        [said] = [
            message_text(i)
            for i in await bot.chat.store.all_items(SlackBot.key("U1"))
            if i.get("role") == "user"
        ]
        assert said == "I'm Ada from Lisbon & Porto <3"
