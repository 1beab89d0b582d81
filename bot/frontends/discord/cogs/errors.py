"""One error path for every command: a short answer to the user, the traceback to the log."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from ....core.failures import COMMAND_FAILED, storage_error
from ..render import NO_MENTIONS

if TYPE_CHECKING:
    from ..bot import MemoryBot

log = logging.getLogger(__name__)

Context = commands.Context["MemoryBot"]

__all__ = ["COMMAND_FAILED", "ErrorsCog"]


class ErrorsCog(commands.Cog, name="Errors"):
    """Answers command errors briefly; never shows exception text to users."""

    def __init__(self, bot: MemoryBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_command_error(self, ctx: Context, error: commands.CommandError) -> None:
        reply = self.reply_for(ctx, error)
        if reply is None:
            return
        with contextlib.suppress(discord.HTTPException):
            await ctx.send(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    def reply_for(self, ctx: Context, error: commands.CommandError) -> str | None:
        """The short answer for `error`, or None to stay silent."""
        # After an @mention the hint names the plain prefix: `!help` works everywhere.
        addressed = ctx.prefix is not None and ctx.prefix.startswith("<@")
        prefix = self.bot.settings.command_prefix if addressed else ctx.clean_prefix
        prefix = prefix or self.bot.settings.command_prefix
        if isinstance(error, commands.CommandNotFound):
            # Other bots share prefixes like "!": only say something where we are talked to.
            if (
                ctx.guild is not None
                and not addressed
                and not self.bot.settings.answers_channel(ctx.channel.id)
            ):
                return None
            return f"I don't know that command. Try `{prefix}help`."
        command = ctx.command
        if isinstance(error, commands.UserInputError) and command is not None:
            usage = f"{prefix}{command.qualified_name} {command.signature}".strip()
            summary = command.short_doc or ""
            return f"Usage: `{usage}`. {summary}".strip()
        if isinstance(error, commands.CommandOnCooldown):
            return f"Slow down a little: try again in {error.retry_after:.0f}s."
        if isinstance(error, commands.MissingPermissions):
            return (
                "Only members with the Manage Server permission can see or change my settings here."
            )
        if isinstance(error, commands.NoPrivateMessage):
            return "That works in a server only, not in direct messages."
        if isinstance(error, commands.CheckFailure):
            return "You can't use that command here."
        original = getattr(error, "original", error)
        if storage_error(original) is not None:
            # Storage full or down: the chat service says so and logs it once per episode.
            return self.bot.chat.failures.command_failed(original, command.name if command else "")
        log.error(
            "command %s failed for user %s",
            command.qualified_name if command else "?",
            ctx.author.id,
            exc_info=(type(original), original, original.__traceback__),
        )
        return COMMAND_FAILED


async def setup(bot: MemoryBot) -> None:
    await bot.add_cog(ErrorsCog(bot))
