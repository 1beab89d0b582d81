"""`memory`, `history`, `search`, `export`, `forget`, `usage` and `help`: hybrid commands,
so each is `!name` and `/name`.

Every command acts on the caller's own memory only: the key comes from the author of the
message or interaction, and no command takes a user argument. Slash replies are ephemeral.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ....core.commands import MAX_PAGE, search_words
from ....core.domain import parse_item_ref
from ..render import NO_MENTIONS, history_embed, memory_embed, search_embed, split_message
from ..users import place_of, user_key

if TYPE_CHECKING:
    from ..bot import MemoryBot

log = logging.getLogger(__name__)

Context = commands.Context["MemoryBot"]

DMS_CLOSED = (
    "I couldn't send you a direct message: your DMs are closed to me. Allow direct messages "
    "from this server's members (Privacy Settings), then try again, or use `/export`, which "
    "only you can see."
)


class MemoryCog(commands.Cog, name="Memory"):
    """What the bot has stored about you, and erasing it."""

    def __init__(self, bot: MemoryBot) -> None:
        self.bot = bot

    @commands.hybrid_command(name="history")
    @app_commands.describe(page="Which page to show; 1 is the newest")
    async def history(self, ctx: Context, page: commands.Range[int, 1, MAX_PAGE] = 1) -> None:
        """Show what I've stored about you (page 1 is the newest)."""
        if not 1 <= page <= MAX_PAGE:
            # Discord enforces the slash option's range client-side only; never trust it.
            raise commands.RangeError(page, minimum=1, maximum=MAX_PAGE)
        view = await self.bot.chat.commands.history_view(user_key(ctx.author), page)
        embed = history_embed(view, syntax=self.bot.syntax)
        await ctx.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="search")
    @app_commands.describe(words="What to look for in what you told me (add 'page 2' for more)")
    async def search(self, ctx: Context, *, words: str) -> None:
        """Find what you told me before: the best matches first, each with its date."""
        text, page = search_words(words)
        view = await self.bot.chat.commands.search_view(user_key(ctx.author), text, page)
        embed = search_embed(view, syntax=self.bot.syntax)
        await ctx.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="memory")
    @app_commands.describe(state="off pauses memory (nothing new is stored); on resumes it")
    async def memory(self, ctx: Context, state: Literal["on", "off"] | None = None) -> None:
        """List what I remember about you, or pause (off) and resume (on) memory."""
        key = user_key(ctx.author)
        commands_ = self.bot.chat.commands
        if state is not None:
            text = await commands_.set_paused(key, state == "off", self.bot.syntax)
            await ctx.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        embed = memory_embed(await commands_.memory(key), syntax=self.bot.syntax)
        await ctx.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="forget")
    @app_commands.describe(item="One item to forget: its number, name or city (empty: all)")
    async def forget(self, ctx: Context, item: str | None = None) -> None:
        """Erase one item (a number, name or city), or everything I've stored about you."""
        key = user_key(ctx.author)
        if item is not None and item.strip():
            which = parse_item_ref(item)
            if which is None:
                raise commands.BadArgument("item must be a number, name or city")
            change, text = await self.bot.chat.commands.forget_item(key, which, self.bot.syntax)
            if change is not None:
                log.info("forgot item %d of %s", change.number, key)
            await ctx.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        report, text = await self.bot.chat.commands.forget(key)
        log.info(
            "forgot %s: %d history items, %d facts",
            key,
            report.history_items,
            len(report.facts),
        )
        await ctx.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="export")
    async def export(self, ctx: Context) -> None:
        """Send you everything I've stored about you, as a JSON file."""
        payload = (await self.bot.chat.commands.export_json(user_key(ctx.author))).encode()
        file = discord.File(io.BytesIO(payload), filename="memory-export.json")
        text = "Here is everything I've stored about you."
        if ctx.interaction is None and ctx.guild is not None:
            # Typed in a server channel: the file goes to the author privately, not the channel.
            try:
                await ctx.author.send(text, file=file, allowed_mentions=NO_MENTIONS)
            except discord.Forbidden:
                # The person's privacy settings, not a fault: tell them, log nothing alarming.
                log.info("export for %s not sent: their DMs are closed", user_key(ctx.author))
                await ctx.send(DMS_CLOSED, allowed_mentions=NO_MENTIONS)
                return
            await ctx.send(
                "I've sent your data to you in a direct message.", allowed_mentions=NO_MENTIONS
            )
            return
        await ctx.send(text, file=file, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="usage")
    async def usage(self, ctx: Context) -> None:
        """Your messages and model tokens today and this month, and the limits here."""
        place = place_of(ctx.author, ctx.channel)
        text = await self.bot.chat.commands.admin.personal_usage(user_key(ctx.author), place)
        await ctx.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="help")
    async def help(self, ctx: Context) -> None:
        """What I can do, and how to talk to me."""
        lines = [
            self.bot.chat.commands.help_text(self.bot.syntax),
            "",
            "DMs always work; in a server, @mention me or talk in a chat channel.",
            "Slash commands /memory, /history, /search, /export, /forget, /usage and /help "
            "answer so only you can see.",
            "only you can see.",
        ]
        for chunk in split_message("\n".join(lines)):
            await ctx.send(chunk, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: MemoryBot) -> None:
    await bot.add_cog(MemoryCog(bot))
