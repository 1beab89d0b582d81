"""Messages and mentions: which ones the bot answers, and where the answer goes.

DMs are answered in the DM; an @mention in a channel is answered in the message's thread, and
so are later messages in a thread the bot answered in (and plain channel messages, where the
workspace's settings say so). Bot messages, the bot's own messages
and message subtypes (edits, joins, deletions, shares) are ignored.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

from ....core.domain import MemorySource
from ....core.failures import ANSWER_FAILED
from ....core.places import Place
from ....core.syntax import parse_command
from ..render import plain_messages
from ..replies import Where, call
from ..users import may_configure, place_of, user_key

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp, AsyncBoltContext
    from slack_sdk.web.async_client import AsyncWebClient

    from ..replies import SlackChat

log = logging.getLogger(__name__)


def incoming_text(text: str, bot_user_id: str | None) -> str:
    """What the person wrote: mentions of the bot removed, Slack's escapes undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip()


def _from_a_person(event: dict[str, Any]) -> bool:
    return (
        event.get("subtype") is None
        and event.get("bot_id") is None
        and isinstance(event.get("user"), str)
        and isinstance(event.get("channel"), str)
    )


def _mentions(event: dict[str, Any], bot_user_id: str | None) -> bool:
    return bool(bot_user_id) and f"<@{bot_user_id}" in str(event.get("text", ""))


async def _answers(slack_chat: SlackChat, place: Place) -> bool:
    try:
        return await slack_chat.chat.community.answers(place)
    except Exception:
        # Settings unreadable (storage down): stay quiet rather than answer everywhere.
        log.exception("reading the workspace's settings failed")
        return False


def register(app: AsyncApp, slack_chat: SlackChat) -> None:
    async def respond_to(
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        where: Where,
        *,
        in_channel: bool,
    ) -> None:
        user_id = event["user"]
        text = incoming_text(str(event.get("text", "")), context.bot_user_id)
        key = user_key(context.team_id, user_id)
        try:
            place = place_of(context.team_id, event["channel"])
            command = parse_command(text, slack_chat.prefix)
            if command is not None and command.name == "config":
                admin = await may_configure(slack_chat.settings, client, user_id)
                place = dataclasses.replace(place, admin=admin)
            if in_channel and command is not None:
                # Memory commands stay private in channels: only the author sees the answer.
                await slack_chat.answer_privately(
                    client, user_key=key, user_id=user_id, text=text, where=where, place=place
                )
            else:
                await slack_chat.answer(
                    client,
                    user_key=key,
                    user_id=user_id,
                    text=text,
                    where=where,
                    source=MemorySource("slack", f"{event['channel']}/{event.get('ts', '')}"),
                    place=place,
                )
        except Exception:
            # One bad message must not stop the next: log it, apologise, carry on.
            log.exception("answering Slack message %s from %s failed", event.get("ts"), user_id)
            for message in plain_messages(ANSWER_FAILED):
                await call(
                    "chat.postMessage",
                    client.chat_postMessage(
                        channel=where.channel, thread_ts=where.thread_ts, **message
                    ),
                )

    # Messages first: a DM, the most common event, then matches the first listener tried.
    @app.event("message")
    async def on_message(
        event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        """A DM, or a follow-up in a channel thread the bot answered in."""
        if not _from_a_person(event):
            return
        channel = event["channel"]
        thread_ts = event.get("thread_ts")
        if event.get("channel_type") == "im":
            await respond_to(event, context, client, Where(channel, thread_ts), in_channel=False)
            return
        if _mentions(event, context.bot_user_id):
            return  # the app_mention event for the same message answers it
        if thread_ts and slack_chat.answered_in(channel, thread_ts):
            await respond_to(event, context, client, Where(channel, thread_ts), in_channel=True)
            return
        # A plain channel message: answered (in its thread) where the workspace's settings
        # say so (`/memory config where …`); by default only @mentions are.
        if not thread_ts and await _answers(slack_chat, place_of(context.team_id, channel)):
            where = Where(channel, event.get("ts"))
            await respond_to(event, context, client, where, in_channel=True)

    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        """An @mention in a channel: answered in the message's thread."""
        if not _from_a_person(event) or str(event["channel"]).startswith("D"):
            return  # DMs arrive as message events too, and are answered there
        where = Where(event["channel"], event.get("thread_ts") or event["ts"])
        await respond_to(event, context, client, where, in_channel=True)
