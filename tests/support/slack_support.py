"""The real Slack app served over HTTP on 127.0.0.1 against the fake Slack, for the tests and
the benchmark: `slack_bot(...)` yields a `SlackBot` to drive with signed requests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import Model
from slack_api_server import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    Call,
    FakeSlackAPI,
    SignedSender,
    dm,
)

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.frontends.slack.app import serve_http, slack_app
from bot.memory import open_store
from bot.models import select_model
from bot.settings import Settings


def slack_settings(db: Path, api: FakeSlackAPI, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "memory_db_path": db,
        "bot_model": "offline",
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": api.api_url,
        "env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class SlackBot:
    api: FakeSlackAPI
    sender: SignedSender
    chat: ChatService
    settings: Settings

    @staticmethod
    def key(user: str) -> UserKey:
        return UserKey("slack", f"{TEAM_ID}:{user}")

    async def dm(self, user: str, text: str, **fields: Any) -> Call:
        """A DM to the bot; returns the reply's chat.postMessage once it reached Slack."""
        before = self.api.count("chat.postMessage")
        status = await self.sender.event(dm(user, text, **fields))
        assert status == 200
        return (await self.api.wait_for("chat.postMessage", before + 1))[before]

    async def command(self, user: str, text: str, channel: str = "C0GENERAL") -> Call:
        """`/memory text` in `channel`; returns the ephemeral answer posted to the response
        URL."""
        before = len(self.api.of("response_url"))
        status = await self.sender.command(user, text, self.api.response_url, channel)
        assert status == 200
        return (await self.api.wait_for("response_url", before + 1))[before]


@contextlib.asynccontextmanager
async def slack_bot(
    db: Path,
    *,
    model: Model | None = None,
    api: FakeSlackAPI | None = None,
    chat: ChatService | None = None,
    **overrides: Any,
) -> AsyncIterator[SlackBot]:
    """The real app over HTTP on a free 127.0.0.1 port, its Web API calls going to the fake."""
    async with contextlib.AsyncExitStack() as stack:
        if api is None:
            api = await stack.enter_async_context(FakeSlackAPI())
        settings = slack_settings(db, api, **overrides)
        if chat is None:
            store = await stack.enter_async_context(open_store(settings))
            chat = ChatService(
                store, model or select_model(settings), ChatConfig.from_settings(settings)
            )
        app = await stack.enter_async_context(slack_app(settings, chat))
        url = await stack.enter_async_context(serve_http(app, host="127.0.0.1", port=0))
        sender = SignedSender(url)
        stack.push_async_callback(sender.aclose)
        yield SlackBot(api=api, sender=sender, chat=chat, settings=settings)
