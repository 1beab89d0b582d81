"""Answering on Slack: run the chat service for one message and post what comes back.

Every Web API call goes through `call`, so a failure (after the SDK's own retries of rate
limits and connection errors) is logged once with the method and Slack's error code and
never loses the turn: the turn is stored before anything is posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...core.chat import ChatService, Reply
from ...core.domain import MemorySource, UserKey
from ...core.places import Place
from ...core.render import render_changes
from ...core.syntax import CommandSyntax, parse_command
from ...settings import Settings
from .render import WRITING, plain_messages, preview_text, reply_messages

log = logging.getLogger(__name__)

# The slash command for memory (`/memory history`, `/memory forget city`).
MEMORY_COMMAND = "/memory"

T = TypeVar("T")
# Seconds between updates of a channel's streamed answer (Slack allows about one a second),
# and how long an answer may take before a placeholder shows.
EDIT_INTERVAL = 1.0
PLACEHOLDER = "_Thinking…_"
EXPORT_FILENAME = "memory-export.json"
EXPORT_SENT = "I sent everything I've stored about you to our direct messages, as a JSON file."
EXPORT_FAILED = "Sorry, I couldn't send your export just now. Please try again."
# Threads the bot answered in, remembered so follow-ups there are answered too.
MAX_THREADS = 10_000


async def call(method: str, request: Awaitable[T]) -> T | None:
    """One Web API call; None (and one log line naming the method and error) if it failed."""
    try:
        return await request
    except SlackApiError as exc:
        log.warning("Slack %s failed: %s", method, slack_error(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("Slack %s failed: %s", method, type(exc).__name__)
    return None


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the answer was not Slack's JSON."""
    data = exc.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {exc.response.status_code}"


@dataclass(frozen=True)
class Where:
    """Where an answer goes: a channel, and the thread in it (None: the channel itself)."""

    channel: str
    thread_ts: str | None = None


class Progress:
    """A slow answer shown while it is written: one message, updated at most once per
    `interval` per channel. Nothing is posted for answers that finish within `interval`.

    `add` only records text: the Web API calls run in a task beside the turn, so a slow
    Slack never eats into the model's time limit.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        where: Where,
        last_update: dict[str, float],
        interval: float = EDIT_INTERVAL,
    ) -> None:
        self.client = client
        self.where = where
        self.ts: str | None = None
        self._text = ""
        self._shown: str | None = None
        self._changed = asyncio.Event()
        self._last_update = last_update
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        # Until `interval` has passed there is only a timer: most answers are done by then,
        # and cancelling a timer costs far less than starting and cancelling a task.
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._busy = False  # a Web API call is in flight

    async def add(self, delta: str) -> None:
        self._text += delta
        self._changed.set()

    def start(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._interval, self._begin)

    def _begin(self) -> None:
        self._timer = None
        if not self._stopping:
            self._task = asyncio.create_task(self._show())

    async def stop(self) -> None:
        """Stop showing progress. A Web API call in flight is let finish, so the final answer
        never races an older preview and a posted placeholder is always known (`ts`)."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is None:
            return
        if not self._busy:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _show(self) -> None:
        while not self._stopping:
            wait = self._last_update.get(self.where.channel, 0.0) + self._interval
            if (delay := wait - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            self._changed.clear()
            text = preview_text(self._text) if self._text.strip() else PLACEHOLDER + WRITING
            if text != self._shown:
                self._last_update[self.where.channel] = time.monotonic()
                self._shown = text
                self._busy = True
                try:
                    await self._display(text)
                finally:
                    self._busy = False
                if self._stopping:
                    return
            await self._changed.wait()

    async def _display(self, text: str) -> None:
        if self.ts is None:
            posted = await call(
                "chat.postMessage",
                self.client.chat_postMessage(
                    channel=self.where.channel,
                    thread_ts=self.where.thread_ts,
                    text=text,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
            self.ts = posted.get("ts") if posted is not None else None
        else:
            await call(
                "chat.update",
                self.client.chat_update(channel=self.where.channel, ts=self.ts, text=text),
            )


class SlackChat:
    """Turns Slack messages and commands into chat-service calls and posts the answers."""

    def __init__(self, settings: Settings, chat: ChatService) -> None:
        self.settings = settings
        self.chat = chat
        self.prefix = settings.command_prefix
        # Hints name the slash command: it works everywhere, `!forget` only in a DM.
        self.syntax = CommandSyntax(settings.command_prefix, group=MEMORY_COMMAND)
        # When each channel's progress message was last updated (shared by concurrent turns).
        self.last_update: dict[str, float] = {}
        self._threads: OrderedDict[tuple[str, str], None] = OrderedDict()

    def answered_in(self, channel: str, thread_ts: str) -> bool:
        return (channel, thread_ts) in self._threads

    def _remember_thread(self, where: Where) -> None:
        if where.thread_ts is None:
            return
        self._threads[(where.channel, where.thread_ts)] = None
        self._threads.move_to_end((where.channel, where.thread_ts))
        while len(self._threads) > MAX_THREADS:
            self._threads.popitem(last=False)

    def is_export(self, text: str) -> bool:
        command = parse_command(text, self.prefix)
        return command is not None and command.name == "export"

    async def answer(
        self,
        client: AsyncWebClient,
        *,
        user_key: UserKey,
        user_id: str,
        text: str,
        where: Where,
        source: MemorySource | None = None,
        place: Place | None = None,
    ) -> None:
        """A message addressed to the bot (a DM, a mention, a thread follow-up): the turn, or
        a chat command, answered where it was asked. Someone the workspace's lists keep out
        is told so privately (ephemeral in a channel)."""
        if self.is_export(text):
            if not await self.send_export(client, user_key=user_key, user_id=user_id):
                await self.post(client, where, plain_messages(EXPORT_FAILED))
            return
        self._remember_thread(where)
        progress = Progress(client, where, self.last_update)
        progress.start()
        try:
            reply = await self.chat.handle(
                user_key,
                text,
                on_text=progress.add,
                source=source,
                syntax=self.syntax,
                place=place,
            )
        finally:
            await progress.stop()
        if not reply.text:
            return  # a throttled repeat: the person was already asked to slow down
        if reply.refused == "not_allowed" and not where.channel.startswith("D"):
            await self.post_ephemeral(client, where, user_id, plain_messages(reply.text))
            return
        await self.post(client, where, self.slack_messages(reply), replace=progress.ts)

    async def answer_privately(
        self,
        client: AsyncWebClient,
        *,
        user_key: UserKey,
        user_id: str,
        text: str,
        where: Where,
        place: Place | None = None,
    ) -> None:
        """A chat command typed in a channel: only its author sees the answer."""
        if self.is_export(text):
            sent = await self.send_export(client, user_key=user_key, user_id=user_id)
            messages = plain_messages(EXPORT_SENT if sent else EXPORT_FAILED)
        else:
            reply = await self.chat.handle(user_key, text, syntax=self.syntax, place=place)
            messages = self.slack_messages(reply)
        await self.post_ephemeral(client, where, user_id, messages)

    async def post_ephemeral(
        self, client: AsyncWebClient, where: Where, user_id: str, messages: list[dict[str, Any]]
    ) -> None:
        for message in messages:
            await call(
                "chat.postEphemeral",
                client.chat_postEphemeral(
                    channel=where.channel, user=user_id, thread_ts=where.thread_ts, **message
                ),
            )

    def slack_messages(self, reply: Reply) -> list[dict[str, Any]]:
        if reply.is_command:
            return plain_messages(reply.text)
        added = reply.added if self.settings.show_turn_embed else None
        # Corrections are always shown, with how to undo them.
        changes = render_changes(reply.changes, self.syntax)
        return reply_messages(reply.text, added, changes)

    async def post(
        self,
        client: AsyncWebClient,
        where: Where,
        messages: list[dict[str, Any]],
        *,
        replace: str | None = None,
    ) -> None:
        """Post an answer's messages in order; a streamed preview (`replace`) becomes the
        first of them."""
        for index, message in enumerate(messages):
            if index == 0 and replace is not None:
                await call(
                    "chat.update",
                    client.chat_update(channel=where.channel, ts=replace, **message),
                )
                continue
            await call(
                "chat.postMessage",
                client.chat_postMessage(
                    channel=where.channel,
                    thread_ts=where.thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    **message,
                ),
            )

    async def send_export(self, client: AsyncWebClient, *, user_key: UserKey, user_id: str) -> bool:
        """Everything stored about the person, as a JSON file in their DM with the bot."""
        # Encoded in short steps on the loop (see `encode_export`), never in one long stretch.
        content = await self.chat.commands.export_json(user_key)
        opened = await call("conversations.open", client.conversations_open(users=user_id))
        if opened is None:
            return False
        channel = opened["channel"]["id"]
        uploaded = await call(
            "files.uploadV2",
            client.files_upload_v2(
                channel=channel,
                filename=EXPORT_FILENAME,
                title="Everything I've stored about you",
                content=content,
                initial_comment="Here is everything I've stored about you, as JSON.",
            ),
        )
        return uploaded is not None
