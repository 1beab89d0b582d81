"""Who a Discord user is to the memory (the key their history and items are stored under),
and where they wrote (`Place`: the guild, channel and their roles, from discord.py's own
objects, never from message text)."""

from __future__ import annotations

from typing import Any

import discord

from ...core.domain import UserKey
from ...core.places import Place


def user_key(user: discord.abc.User) -> UserKey:
    """The memory key of a Discord user: one memory across every server and DM."""
    return UserKey("discord", str(user.id))


def place_of(author: discord.abc.User, channel: Any, *, admin: bool = False) -> Place:
    """Where `author` wrote: a DM (no server: only the bot's settings apply), or a guild
    channel (a thread belongs to its parent channel too), with the author's roles there."""
    guild = getattr(channel, "guild", None)
    if guild is None:
        return Place("discord", channel=str(channel.id), admin=admin)
    roles = frozenset(str(role.id) for role in getattr(author, "roles", ()) if role.id != guild.id)
    parent = getattr(channel, "parent_id", None)
    return Place(
        "discord",
        server=str(guild.id),
        channel=str(channel.id),
        parent=str(parent) if parent is not None else None,
        roles=roles,
        admin=admin,
    )
