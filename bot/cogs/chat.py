"""Plain conversation: which messages the bot answers, and how the answer is sent."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from ..discord_bot import user_key
from ..discord_render import NO_MENTIONS, split_message, turn_embed

if TYPE_CHECKING:
    from ..discord_bot import MemoryBot

log = logging.getLogger(__name__)

FAILED_REPLY = "Sorry, something went wrong while answering that. Please try again."


class ChatCog(commands.Cog, name="Chat"):
    """Answers DMs, @mentions (and replies to the bot), and every message in chat channels."""

    def __init__(self, bot: MemoryBot) -> None:
        self.bot = bot

    def addressed_text(self, message: discord.Message) -> str | None:
        """The text to answer, or None when the message is not for the bot."""
        me = self.bot.user
        author = message.author
        if me is None or author.id == me.id or author.bot or message.webhook_id is not None:
            return None
        if message.is_system() or message.content.startswith(self.bot.settings.command_prefix):
            return None  # join notices and the like; commands belong to the command cogs
        mentioned = any(user.id == me.id for user in message.mentions)
        text = re.sub(rf"<@!?{me.id}>", " ", message.content) if mentioned else message.content
        text = text.strip()
        if message.guild is None or mentioned or self._replies_to_me(message):
            return text
        return text if self._is_chat_channel(message.channel) else None

    def _replies_to_me(self, message: discord.Message) -> bool:
        resolved = message.reference.resolved if message.reference else None
        me = self.bot.user
        return isinstance(resolved, discord.Message) and me is not None and resolved.author == me

    def _is_chat_channel(self, channel: Any) -> bool:
        # A thread belongs to its parent channel: threads in a chat channel are chat too.
        ids = [channel.id, getattr(channel, "parent_id", None)]
        return any(i is not None and self.bot.settings.answers_channel(i) for i in ids)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        text = self.addressed_text(message)
        if text is None:
            return
        try:
            await self.answer(message, text)
        except Exception:
            # One bad message must not stop the next: log it, apologise, carry on.
            log.exception("answering message %s from %s failed", message.id, message.author.id)
            with contextlib.suppress(discord.HTTPException):
                await message.channel.send(FAILED_REPLY, allowed_mentions=NO_MENTIONS)

    async def answer(self, message: discord.Message, text: str) -> None:
        """Run a turn for the author and send the reply (and what it stored)."""
        prefix = self.bot.settings.command_prefix
        if not text:
            await self._send(message, [f"Yes? Say something, or try `{prefix}help`."], None)
            return
        async with typing_indicator(message.channel):
            result = await self.bot.chat.turn(user_key(message.author), text)
        embed = None
        if self.bot.settings.show_turn_embed and result.ok and result.added:
            embed = turn_embed(result.added)
        await self._send(message, split_message(result.reply) or ["(no answer)"], embed)

    async def _send(
        self, message: discord.Message, chunks: list[str], embed: discord.Embed | None
    ) -> None:
        # In servers the first part replies to the question (without pinging its author), so
        # the answer is easy to find in a busy channel; the embed rides on the last part.
        reference = message.to_reference(fail_if_not_exists=False) if message.guild else None
        for index, chunk in enumerate(chunks):
            extra: dict[str, Any] = {}
            if index == 0 and reference is not None:
                extra["reference"] = reference
            if index == len(chunks) - 1 and embed is not None:
                extra["embed"] = embed
            await message.channel.send(chunk, allowed_mentions=NO_MENTIONS, **extra)


@contextlib.asynccontextmanager
async def typing_indicator(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """Show "Bot is typing…" while the body runs; a failed indicator never fails the answer."""
    typing = channel.typing()
    try:
        await typing.__aenter__()
    except discord.HTTPException:
        log.debug("typing indicator refused in channel %s", getattr(channel, "id", "?"))
        yield
        return
    try:
        yield
    finally:
        await typing.__aexit__(None, None, None)


async def setup(bot: MemoryBot) -> None:
    await bot.add_cog(ChatCog(bot))
