"""Who a Discord user is to the memory: the key their history and items are stored under."""

from __future__ import annotations

import discord

from ...core.domain import UserKey


def user_key(user: discord.abc.User) -> UserKey:
    """The memory key of a Discord user: one memory across every server and DM."""
    return UserKey("discord", str(user.id))
