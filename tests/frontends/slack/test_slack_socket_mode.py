"""Socket Mode: the bot opens a connection with apps.connections.open and answers events that
arrive over a local WebSocket, in process and as `python -m bot slack` across a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from slack_api_server import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlackAPI, dm, events_api
from slack_support import slack_settings

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.frontends.slack.app import slack_app, socket_mode
from bot.memory import open_store
from bot.models import select_model


async def test_socket_mode_start_up_and_one_event(tmp_path: Path) -> None:
    async with FakeSlackAPI() as api:
        settings = slack_settings(
            tmp_path / "m.db", api, slack_app_token=APP_TOKEN, slack_signing_secret=None
        )
        async with open_store(settings) as store:
            chat = ChatService(store, select_model(settings), ChatConfig.from_settings(settings))
            async with slack_app(settings, chat) as app, socket_mode(app, APP_TOKEN):
                envelope = await api.send_envelope(
                    events_api(dm("U1", "I'm Ada from Lisbon"), "Ev1")
                )
                [reply] = await api.wait_for("chat.postMessage")
                await api.wait_until(lambda: {"envelope_id": envelope} in api.acks)
    [opened] = api.of("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert reply.body["channel"] == "DU1"
    assert reply.body["text"].startswith("Nice to meet you, Ada!")


async def run_bot_once(api: FakeSlackAPI, tmp_path: Path, text: str, count: int) -> str:
    """Start `python -m bot slack` (Socket Mode), send one DM, stop it with SIGTERM; returns
    its log (stderr) after checking it exited cleanly."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "DISCORD_", "OPENAI_"))
    }
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api.api_url,
        MEMORY_DB_PATH=str(tmp_path / "memory.db"),
        BOT_MODEL="offline",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "slack",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await api.send_envelope(events_api(dm("U1", text), f"Ev-{count}"))
        await api.wait_for("chat.postMessage", count)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert process.returncode == 0, log
    return log


async def test_python_m_bot_slack_remembers_across_a_restart(tmp_path: Path) -> None:
    async with FakeSlackAPI() as api:
        first_log = await run_bot_once(api, tmp_path, "My name is Ada and I live in Lisbon", 1)
        second_log = await run_bot_once(api, tmp_path, "What's my city?", 2)
    replies = [c.body["text"] for c in api.of("chat.postMessage")]
    assert replies == [
        "Nice to meet you, Ada! I'll remember that you live in Lisbon.",
        "Your city is Lisbon.",
    ]
    assert "read_facts()" in api.of("chat.postMessage")[1].body["blocks"][-1]["elements"][0]["text"]
    assert len(api.of("apps.connections.open")) == 2
    for log in (first_log, second_log):
        assert "connected by Socket Mode" in log
        assert BOT_TOKEN not in log and APP_TOKEN not in log
