"""Who a Discord user is to the memory: the key their history and facts are stored under."""

from __future__ import annotations

import discord


def user_key(user: discord.abc.User) -> str:
    """The memory key of a Discord user: one memory across every server and DM."""
    return f"discord:{user.id}"
