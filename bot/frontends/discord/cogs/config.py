"""`/config` (and `!config`): a server's settings, for the members allowed to manage it.

Discord hides the command from members without Manage Server (`default_permissions`), but a
server's admins can change who sees it, so every invocation is also checked here, at run
time: Manage Server (or a user in ADMIN_USER_IDS), in a server. The server and channel come
from the interaction or message, and users and roles from Discord's own resolved objects.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ....core.admin import Names
from ....core.config_text import LIMIT_NAMES, limit_value
from ..render import NO_MENTIONS, split_message
from ..users import place_of, user_key

if TYPE_CHECKING:
    from ....core.admin import ServerAdmin
    from ....core.places import Place
    from ..bot import MemoryBot

Context = commands.Context["MemoryBot"]

# Shown, never pinging anyone (every send passes NO_MENTIONS).
DISCORD_NAMES = Names(
    user=lambda key: f"<@{key.partition(':')[2]}>" if key.startswith("discord:") else key,
    role=lambda role_id: f"<@&{role_id}>",
    channel=lambda channel_id: f"<#{channel_id}>",
)
_CHANNEL = re.compile(r"<#(\d+)>|\b(\d{15,21})\b")


def may_configure(ctx: Context) -> bool:
    """The run-time check behind `default_permissions`: Manage Server in this server (the
    interaction's resolved permissions for a slash command), or ADMIN_USER_IDS."""
    if ctx.guild is None:
        raise commands.NoPrivateMessage()
    if str(ctx.author.id) in ctx.bot.settings.admin_user_ids:
        return True
    if ctx.interaction is not None:
        permissions = ctx.interaction.permissions
    else:
        permissions = getattr(ctx.author, "guild_permissions", discord.Permissions.none())
    if permissions.manage_guild:
        return True
    raise commands.MissingPermissions(["manage_guild"])


class ConfigCog(commands.Cog, name="Config"):
    """This server's settings: instructions, where I answer, who may talk to me, limits."""

    def __init__(self, bot: MemoryBot) -> None:
        self.bot = bot

    async def cog_check(self, ctx: Context) -> bool:  # type: ignore[override]
        # Runs for `!config …` and for `/config …` alike (hybrid commands).
        return may_configure(ctx)

    @property
    def admin(self) -> ServerAdmin:
        return self.bot.chat.commands.admin

    def place(self, ctx: Context) -> Place:
        return place_of(ctx.author, ctx.channel, admin=True)

    async def reply(self, ctx: Context, text: str) -> None:
        for chunk in split_message(text):
            await ctx.send(chunk, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_group(name="config", fallback="show", invoke_without_command=True)
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def config(self, ctx: Context) -> None:
        """Show this server's settings (Manage Server only)."""
        await self.reply(ctx, await self.admin.show(self.place(ctx), DISCORD_NAMES))

    @config.command(name="instructions")
    @app_commands.describe(
        text="A persona or house rules, up to 2,000 characters; `clear` removes them",
        channel="Only in this channel (leave empty for the whole server)",
    )
    async def instructions(
        self, ctx: Context, channel: discord.TextChannel | None = None, *, text: str
    ) -> None:
        """Set the instructions of the server, or of one channel (the channel's win)."""
        cleared = text.strip().lower() == "clear"
        answer = await self.admin.set_instructions(
            self.place(ctx),
            user_key(ctx.author),
            None if cleared else text,
            str(channel.id) if channel is not None else None,
        )
        if channel is not None:
            answer = answer.replace(f"channel {channel.id}", channel.mention)
        await self.reply(ctx, answer)

    @config.command(name="where")
    @app_commands.describe(
        mode="all: every channel; channels: only those listed; mentions: @mentions only",
        channels="For `channels`: the channels, as #mentions or ids",
    )
    async def where(
        self,
        ctx: Context,
        mode: Literal["all", "channels", "mentions"],
        *,
        channels: str = "",
    ) -> None:
        """Where I answer plain messages (DMs and @mentions are always answered)."""
        ids = [a or b for a, b in _CHANNEL.findall(channels)]
        answer = await self.admin.set_answer(self.place(ctx), user_key(ctx.author), mode, ids)
        for channel_id in ids:
            answer = answer.replace(channel_id, f"<#{channel_id}>")
        await self.reply(ctx, answer)

    async def _access(
        self,
        ctx: Context,
        action: Literal["allow", "block", "remove"],
        who: discord.Member | discord.User | discord.Role,
    ) -> None:
        if isinstance(who, discord.Role):
            kind, ident = "role", str(who.id)
        else:
            kind, ident = "user", str(user_key(who))
        answer = await self.admin.set_access(
            self.place(ctx),
            user_key(ctx.author),
            action,
            kind,  # type: ignore[arg-type]
            ident,
        )
        await self.reply(ctx, answer.replace(f"That {kind}", who.mention, 1))

    @config.command(name="allow")
    @app_commands.describe(who="A member or a role")
    async def allow(self, ctx: Context, who: discord.Member | discord.Role) -> None:
        """Allow a member or role (while any allow list has entries, only they may talk)."""
        await self._access(ctx, "allow", who)

    @config.command(name="block")
    @app_commands.describe(who="A member or a role")
    async def block(self, ctx: Context, who: discord.Member | discord.Role) -> None:
        """Block a member or role: they get one private line, and nothing is stored."""
        await self._access(ctx, "block", who)

    @config.command(name="unlist")
    @app_commands.describe(who="A member or a role")
    async def unlist(self, ctx: Context, who: discord.Member | discord.Role) -> None:
        """Take a member or role off the allow and block lists."""
        await self._access(ctx, "remove", who)

    @config.command(name="limit")
    @app_commands.describe(
        name="Which daily limit",
        value="A whole number (0: no limit), or `default` for the bot's setting",
    )
    async def limit(
        self,
        ctx: Context,
        name: Literal["tokens-per-user", "turns-per-user", "tokens-per-server"],
        value: str,
    ) -> None:
        """Set a daily limit of this server (resets at midnight UTC)."""
        try:
            amount = limit_value(value)
        except ValueError:
            raise commands.BadArgument("value must be a whole number or default") from None
        answer = await self.admin.set_limit(
            self.place(ctx), user_key(ctx.author), LIMIT_NAMES[name], amount
        )
        await self.reply(ctx, answer)

    @config.command(name="usage")
    async def usage(self, ctx: Context) -> None:
        """This server's model usage today and this month, and its top users."""
        await self.reply(ctx, await self.admin.usage(self.place(ctx), DISCORD_NAMES))


async def setup(bot: MemoryBot) -> None:
    await bot.add_cog(ConfigCog(bot))
