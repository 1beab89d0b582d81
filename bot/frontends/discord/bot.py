"""The Discord front end: the bot class, and `serve_discord`, which keeps it connected until
told to stop.

A thin adapter over `ChatService`: the cogs in `cogs/` translate Discord messages and
commands into chat-service calls and render what comes back (`render.py`). The bot is given
its chat service; it never opens or closes the memory behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.ext import commands

from ...core.syntax import CommandSyntax
from ..errors import StartError
from .render import NO_MENTIONS

if TYPE_CHECKING:
    from ...core.chat import ChatService
    from ...settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "bot.frontends.discord.cogs.chat",
    "bot.frontends.discord.cogs.memory",
    "bot.frontends.discord.cogs.config",
    "bot.frontends.discord.cogs.errors",
)
# How long a stopping bot may take to finish its connection before it is cancelled.
SHUTDOWN_GRACE_SECONDS = 10.0


def bot_intents() -> discord.Intents:
    """Only what the bot uses: guild and DM messages, and their text (a privileged intent
    that must be enabled in the Developer Portal). No members, presences or voice."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    return intents


def command_prefixes(prefix: str) -> Callable[[commands.Bot, discord.Message], list[str]]:
    """The prefix, and the prefix after an @mention of the bot: `@bot !forget` in a server is
    the command, as `!forget` is (any spaces between the mention and the prefix)."""

    def prefixes(bot: commands.Bot, message: discord.Message) -> list[str]:
        me = bot.user
        if me is not None:
            addressed = re.match(rf"<@!?{me.id}>\s*{re.escape(prefix)}", message.content)
            if addressed is not None:
                return [addressed.group(0), prefix]
        return [prefix]

    return prefixes


class MemoryBot(commands.Bot):
    """The chat bot with a memory; its collaborators are given, never global."""

    def __init__(
        self,
        *,
        settings: Settings,
        chat: ChatService,
        extensions: Sequence[str] = EXTENSIONS,
        sync_global: bool = False,
        resources: contextlib.AsyncExitStack | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(
            **client_options,
            command_prefix=command_prefixes(settings.command_prefix),
            intents=bot_intents(),
            allowed_mentions=NO_MENTIONS,
            help_command=None,  # the memory cog's hybrid `help` replaces it
            case_insensitive=True,
        )
        self.settings = settings
        self.chat = chat
        self.syntax = CommandSyntax(settings.command_prefix)
        self.initial_extensions = tuple(extensions)
        self.sync_global = sync_global
        # What whoever built this bot wants closed with it (`bot.app.create_bot`: the chat
        # service's store and model client); empty when the builder closes them itself.
        self._resources = resources or contextlib.AsyncExitStack()

    async def setup_hook(self) -> None:
        for extension in self.initial_extensions:
            await self.load_extension(extension)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Publish slash commands: to the dev guild when one is set, globally only on request.

        A global sync takes up to an hour to reach every server and is rate limited, so it
        never happens on an ordinary start.
        """
        try:
            if self.sync_global:
                synced = await self.tree.sync()
                log.info("synced %d slash commands globally", len(synced))
            elif self.settings.dev_guild_id is not None:
                guild = discord.Object(id=self.settings.dev_guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d slash commands to guild %s", len(synced), guild.id)
        except discord.HTTPException:
            # Usually the invite lacked the applications.commands scope; prefix commands
            # still work, so this is worth a warning, not a crash.
            log.warning(
                "could not sync slash commands (was the bot invited with the "
                "applications.commands scope?)",
                exc_info=True,
            )

    # Connection state for /healthz (`Connections`): the gateway's own events.
    async def on_ready(self) -> None:
        self.chat.connections.connected("discord")

    async def on_resumed(self) -> None:
        self.chat.connections.connected("discord")

    async def on_disconnect(self) -> None:
        self.chat.connections.disconnected("discord", "disconnected from the gateway")

    async def close(self) -> None:
        self.chat.connections.disconnected("discord", "closed")
        try:
            await super().close()
        finally:
            await self._resources.aclose()


class ShardedMemoryBot(MemoryBot, commands.AutoShardedBot):
    """The same bot over several gateway shards (a bot in many servers). Memory must then be
    shared by every process running shards: use DATABASE_URL (PostgreSQL)."""


def build_bot(
    settings: Settings,
    chat: ChatService,
    *,
    sync_global: bool = False,
    resources: contextlib.AsyncExitStack | None = None,
) -> MemoryBot:
    """The bot the settings describe over `chat`: sharded when SHARD_COUNT/SHARD_IDS ask."""
    options: dict[str, Any] = {
        "settings": settings,
        "chat": chat,
        "sync_global": sync_global,
        "resources": resources,
    }
    if settings.sharded:
        # The default stays a plain Bot: dpytest (and a bot in a few servers) needs no shards.
        return ShardedMemoryBot(
            **options, shard_count=settings.shard_count, shard_ids=settings.shard_ids
        )
    return MemoryBot(**options)


async def serve_discord(bot: MemoryBot, token: str, stop: asyncio.Event) -> None:
    """Keep the bot connected until `stop` is set (then close it cleanly) or the connection
    ends; a failure to connect is a `StartError` with one line."""
    async with bot:
        connection = asyncio.create_task(bot.start(token))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if connection.done():
            raise_start_error(connection)
        else:
            log.info("stop signal received; closing the Discord connection")
            await bot.close()
            try:
                await asyncio.wait_for(connection, SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.warning("the Discord connection did not close in time; cancelled it")
    log.info("Discord bot stopped")


def raise_start_error(connection: asyncio.Task[None]) -> None:
    """Turn the usual start-up failures into one clear line instead of a traceback."""
    error = connection.exception()
    if error is None:
        return
    if isinstance(error, discord.LoginFailure):
        raise StartError("Discord rejected DISCORD_TOKEN; copy the bot token again.")
    if isinstance(error, discord.PrivilegedIntentsRequired):
        raise StartError(
            "enable the Message Content intent for this bot in the Discord Developer "
            "Portal (Bot → Privileged Gateway Intents), then start it again."
        )
    if isinstance(error, OSError | aiohttp.ClientError | discord.GatewayNotFound):
        log.debug("connecting to Discord failed", exc_info=error)
        raise StartError(
            f"could not reach Discord ({type(error).__name__}); check this machine's "
            "internet connection (and any proxy or firewall), then start the bot again."
        )
    if isinstance(error, discord.DiscordServerError):
        log.debug("Discord failed at start", exc_info=error)
        raise StartError("Discord answered with a server error; try again in a few minutes.")
    raise error
