"""Plain conversation: which messages the bot answers, and how the answer is sent."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from ....core.domain import MemorySource
from ....core.failures import ANSWER_FAILED
from ..render import MESSAGE_LIMIT, NO_MENTIONS, split_message, turn_embed
from ..users import place_of, user_key

if TYPE_CHECKING:
    from ..bot import MemoryBot

log = logging.getLogger(__name__)

# Seconds between edits of a channel's streamed answer (Discord allows about 5 edits / 5 s).
EDIT_INTERVAL = 1.0
WRITING = " …"
ATTACHMENTS_NOT_READ = (
    "I can't read attachments yet, only text: please type what you'd like to say."
)


class ChatCog(commands.Cog, name="Chat"):
    """Answers DMs, @mentions (and replies to the bot), and every message in chat channels."""

    def __init__(self, bot: MemoryBot) -> None:
        self.bot = bot
        # When each channel's progress message was last edited (shared by concurrent turns).
        self._last_edit: dict[int, float] = {}

    async def addressed_text(self, message: discord.Message) -> str | None:
        """The text to answer, or None when the message is not for the bot: in a server,
        plain messages are answered where its settings say (by default CHAT_CHANNEL_IDS);
        DMs, @mentions and replies to the bot always are."""
        me = self.bot.user
        author = message.author
        if me is None or author.id == me.id or author.bot or message.webhook_id is not None:
            return None
        if message.is_system() or message.content.startswith(self.bot.settings.command_prefix):
            return None  # join notices and the like; commands belong to the command cogs
        mentioned = any(user.id == me.id for user in message.mentions)
        text = re.sub(rf"<@!?{me.id}>", " ", message.content) if mentioned else message.content
        text = text.strip()
        prefix = re.escape(self.bot.settings.command_prefix)
        if re.match(rf"<@!?{me.id}>\s*{prefix}", message.content) is not None:
            return None  # `@bot !forget`: a command, run by the command cogs
        if message.guild is None or mentioned or self._replies_to_me(message):
            return text
        place = place_of(author, message.channel)
        return text if await self.bot.chat.community.answers(place) else None

    def _replies_to_me(self, message: discord.Message) -> bool:
        resolved = message.reference.resolved if message.reference else None
        me = self.bot.user
        return isinstance(resolved, discord.Message) and me is not None and resolved.author == me

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        try:
            text = await self.addressed_text(message)
        except Exception:
            # The server's settings could not be read (storage down): say nothing rather
            # than answer in a channel where the bot may not be wanted; it is logged.
            log.exception("reading the settings for message %s failed", message.id)
            return
        if text is None:
            return
        try:
            await self.answer(message, text)
        except Exception:
            # One bad message must not stop the next: log it, apologise, carry on.
            log.exception("answering message %s from %s failed", message.id, message.author.id)
            with contextlib.suppress(discord.HTTPException):
                await message.channel.send(ANSWER_FAILED, allowed_mentions=NO_MENTIONS)

    async def answer(self, message: discord.Message, text: str) -> None:
        """Run a turn for the author and send the reply (and what it stored)."""
        if not text:
            if message.attachments:
                await self._send(message, [ATTACHMENTS_NOT_READ], None)
                return
            await self._send(
                message, [f"Yes? Say something, or try `{self.bot.syntax('help')}`."], None
            )
            return
        progress = ProgressMessage(message, self._last_edit)
        async with typing_indicator(message.channel):
            result = await self.bot.chat.turn(
                user_key(message.author),
                text,
                on_text=progress.add,
                source=MemorySource("discord", message.jump_url),
                syntax=self.bot.syntax,
                place=place_of(message.author, message.channel),
            )
        if not result.reply:
            return  # a throttled repeat: the user was already asked to slow down
        if result.failure == "not_allowed":
            await self._tell_privately(message, result.reply)
            return
        embed = None
        if self.bot.settings.show_turn_embed and result.ok and result.added:
            embed = turn_embed(result.added, result.changes, syntax=self.bot.syntax)
        chunks = split_message(result.reply) or ["(no answer)"]
        if progress.sent is not None:
            # The streamed preview becomes the first part of the final answer.
            last = len(chunks) == 1
            await progress.sent.edit(
                content=chunks[0], embed=embed if last else None, allowed_mentions=NO_MENTIONS
            )
            if last:
                return
            chunks = chunks[1:]
        await self._send(message, chunks, embed, reply=progress.sent is None)

    async def _tell_privately(self, message: discord.Message, line: str) -> None:
        """One line only the author sees (a DM); nothing in the channel if DMs are closed."""
        try:
            await message.author.send(line, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.info("could not tell %s privately: their DMs are closed", message.author.id)

    async def _send(
        self,
        message: discord.Message,
        chunks: list[str],
        embed: discord.Embed | None,
        *,
        reply: bool = True,
    ) -> None:
        # In servers the first part replies to the question (without pinging its author), so
        # the answer is easy to find in a busy channel; the embed rides on the last part.
        reference = None
        if reply and message.guild:
            reference = message.to_reference(fail_if_not_exists=False)
        for index, chunk in enumerate(chunks):
            extra: dict[str, Any] = {}
            if index == 0 and reference is not None:
                extra["reference"] = reference
            if index == len(chunks) - 1 and embed is not None:
                extra["embed"] = embed
            await message.channel.send(chunk, allowed_mentions=NO_MENTIONS, **extra)


class ProgressMessage:
    """A long answer shown while it is generated: one message, edited as text arrives.

    Nothing is shown for answers whose text arrives within EDIT_INTERVAL, and a channel's
    progress messages are edited at most once per EDIT_INTERVAL, well inside Discord's rate
    limits. A preview never exceeds one message.
    """

    def __init__(self, message: discord.Message, last_edit: dict[int, float]) -> None:
        self.message = message
        self.sent: discord.Message | None = None
        self._text = ""
        self._last_edit = last_edit
        self._first_text: float | None = None

    async def add(self, delta: str) -> None:
        self._text += delta
        now = time.monotonic()
        channel_id = self.message.channel.id
        # Timed from the first text, not the message: waiting for the model is what the typing
        # indicator is for, and a reply that then arrives at once needs no preview.
        if self._first_text is None:
            self._first_text = now
        if now - self._first_text < EDIT_INTERVAL:
            return
        if now - self._last_edit.get(channel_id, 0.0) < EDIT_INTERVAL:
            return
        self._last_edit[channel_id] = now
        preview = self._text.strip()
        if len(preview) > MESSAGE_LIMIT - len(WRITING):
            preview = preview[: MESSAGE_LIMIT - len(WRITING) - 1].rstrip()
        preview += WRITING
        if self.sent is None:
            reference = None
            if self.message.guild:
                reference = self.message.to_reference(fail_if_not_exists=False)
            self.sent = await self.message.channel.send(
                preview, allowed_mentions=NO_MENTIONS, reference=reference
            )
        else:
            await self.sent.edit(content=preview, allowed_mentions=NO_MENTIONS)


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
