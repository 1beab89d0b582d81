"""dpytest helpers for the Discord tests: start the real bot, make members, read replies.

Fixtures live in `discord_fixtures` (loaded with `pytest_plugins` by each Discord test module).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import discord.abc
import discord.ext.test as dpytest
import pytest
from agents import Model
from discord.ext.test import backend
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.app import create_bot
from bot.core.usage import Clock
from bot.frontends.discord.bot import MemoryBot
from bot.settings import Settings

# Every slash command the bot registers (each also a `!` command).
SLASH_COMMANDS = {"memory", "history", "search", "export", "forget", "usage", "help", "config"}

NO_PING: dict[str, Any] = {"parse": []}
BotFactory = Callable[..., Awaitable[MemoryBot]]


@dataclass
class Wire:
    """What the bot sent, as discord.py serialised it for Discord's API."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # "send" or "edit", one per payload
    typing: list[int] = field(default_factory=list)  # channel ids, in order
    typed_before_payload: list[int] = field(default_factory=list)  # payloads sent by then


def allow_dpytest_to_cache_members(bot: discord.Client) -> None:
    """dpytest builds guild members through the member cache, which the bot's minimal intents
    leave off (real Discord sends message authors inline and needs no members intent).
    Widening the pre-dpytest state lets dpytest's copy of it cache members; the bot code under
    test is unchanged."""
    state = bot._connection
    state._intents.members = True
    state.member_cache_flags = discord.MemberCacheFlags.from_intents(state._intents)


async def start_bot(
    settings: Settings,
    *,
    model: Model | None = None,
    members: int | list[str] = 2,
    text_channels: int | list[str] = 2,
    clock: Clock | None = None,
) -> MemoryBot:
    """Create the real bot with `create_bot`, attach dpytest, and run its `setup_hook`."""
    bot = create_bot(settings, model=model, clock=clock)
    allow_dpytest_to_cache_members(bot)
    dpytest.configure(bot, guilds=1, text_channels=text_channels, voice_channels=0, members=members)
    # After configure: dpytest's replacement connection state needs the running loop too.
    await bot._async_setup_hook()
    await bot.setup_hook()
    return bot


async def stop_bot(bot: MemoryBot) -> None:
    """Close the bot as a shutdown would (which closes its memory file)."""
    await dpytest.empty_queue()
    # dpytest's fake gateway has no socket to close; the rest of `close` runs for real.
    bot.ws = None
    await bot.close()


def drain() -> list[discord.Message]:
    """Every message the bot has sent since the last drain, oldest first."""
    sent: list[discord.Message] = []
    while not dpytest.sent_queue.empty():
        sent.append(dpytest.sent_queue.get_nowait())
    return sent


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "memory_db_path": tmp_path / "memory.db",
        "bot_model": "offline",
        "chat_channel_ids": "*",
        "env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


_ids = itertools.count(1)


def member_named(name: str, guild_index: int = 0, *, user_id: int | None = None) -> discord.Member:
    """A new member of the configured guild (optionally re-using a user id across bots)."""
    guild = dpytest.get_config().guilds[guild_index]
    user = backend.make_user(name, f"{next(_ids) % 9999 + 1:04}", id_num=user_id or -1)
    return backend.make_member(user, guild)


def other_bot(name: str = "OtherBot") -> discord.Member:
    """A member that is a bot account."""
    guild = dpytest.get_config().guilds[0]
    data = backend.facts.make_user_dict(name, "0042", None, backend.facts.make_id())
    data["bot"] = True
    user = backend.get_state().store_user(data)
    return backend.make_member(user, guild)


async def raw_message(
    content: str, channel: discord.abc.Messageable, author: discord.abc.User, **fields: Any
) -> None:
    """A message with payload fields dpytest has no helper for (webhook_id,
    mention_everyone, ...), parsed and dispatched by the bot's real connection state."""
    known = {"mention_everyone", "type", "webhook_id", "mentions"}
    data = backend.facts.make_message_dict(
        channel, author, content=content, **{k: v for k, v in fields.items() if k in known}
    )
    data.update({k: v for k, v in fields.items() if k not in known})  # raw payload fields
    backend.get_state().parse_message_create(data)
    await dpytest.run_all_events()


async def webhook_message(content: str, channel: discord.abc.GuildChannel) -> None:
    """A message posted by a webhook; its author is not flagged as a bot."""
    author = backend.make_user("Hook", "0007")
    await raw_message(content, channel, author, webhook_id=backend.facts.make_id())


def add_text_channel(name: str, channel_id: int, guild_index: int = 0) -> discord.TextChannel:
    """A text channel with a chosen id, so settings can list it before the guild exists."""
    guild = dpytest.get_config().guilds[guild_index]
    return backend.make_text_channel(name, guild, id_num=channel_id)


async def slash(
    bot: MemoryBot,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    member: discord.Member,
    channel: discord.TextChannel,
    *,
    subcommand: str | None = None,
    permissions: int = 0,
    **options: Any,
) -> list[dict[str, Any]]:
    """Invoke slash command `name` (its `subcommand`, for a group) as `member`, whose
    resolved permissions in the channel are `permissions`, through the bot's real command
    tree; return the interaction responses as discord.py would POST them to Discord.

    dpytest has no interactions, so the interaction arrives as Discord's JSON and the HTTP
    call that answers it is the one thing replaced.
    """
    responses: list[dict[str, Any]] = []
    state = bot._connection

    async def create_interaction_response(
        self: Any, interaction_id: int, token: str, *, params: Any, **_: Any
    ) -> dict[str, Any]:
        payload = params.payload
        if payload is None:
            # A response with files is multipart: the JSON rides in the "payload_json" part.
            part = next(p for p in params.multipart if p["name"] == "payload_json")
            payload = json.loads(part["value"])
            payload["files"] = [f.fp.getvalue() for f in params.files]
        responses.append(payload)
        body = payload.get("data") or {}
        embeds = [discord.Embed.from_dict(e) for e in body.get("embeds", [])]
        message = backend.facts.make_message_dict(
            channel, state.user, content=body.get("content"), embeds=embeds
        )
        return {
            "interaction": {"id": str(interaction_id), "type": 2},
            "resource": {"type": payload["type"], "message": message},
        }

    monkeypatch.setattr(
        AsyncWebhookAdapter, "create_interaction_response", create_interaction_response
    )
    payload: dict[str, Any] = {
        "id": str(backend.facts.make_id()),
        "application_id": str(bot.user.id),
        "type": 2,
        "token": "interaction-token",
        "version": 1,
        "attachment_size_limit": 8 * 1024 * 1024,
        "guild_id": str(channel.guild.id),
        "channel": {"id": str(channel.id), "type": 0, "guild_id": str(channel.guild.id)},
        "member": {**backend.facts.dict_from_member(member), "permissions": str(permissions)},
        "locale": "en-US",
        "data": {"id": str(backend.facts.make_id()), "name": name, "type": 1, "options": []},
    }
    given = [
        {"name": key, "type": 4 if isinstance(value, int) else 3, "value": value}
        for key, value in options.items()
    ]
    if subcommand is not None:
        given = [{"name": subcommand, "type": 1, "options": given}]
    payload["data"]["options"] = given
    interaction = discord.Interaction(data=payload, state=state)
    await bot.tree._call(interaction)
    await dpytest.run_all_events()
    return responses
