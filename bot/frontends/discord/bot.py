"""The Discord front end: the bot class, `create_bot`, and `run_discord`.

A thin adapter over `ChatService`: the cogs in `cogs/` translate Discord messages and
commands into chat-service calls and render what comes back (`render.py`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.ext import commands

from ...core.agent import describe_model
from ...core.chat import ChatService
from ...memory import describe_memory
from ...memory.opening import check_memory, open_memory
from ...settings import SettingsError
from ..signals import stop_on_signals
from .render import NO_MENTIONS

if TYPE_CHECKING:
    from agents import Model

    from ...settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "bot.frontends.discord.cogs.chat",
    "bot.frontends.discord.cogs.memory",
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


def discord_token(settings: Settings) -> str:
    """The bot token in clear, only for the connection that needs it."""
    token = settings.discord_token
    if token is None:
        raise SettingsError("DISCORD_TOKEN is not set; put it in .env or the environment.")
    return token.get_secret_value()


class MemoryBot(commands.Bot):
    """The chat bot with a memory; its collaborators are given, never global."""

    def __init__(
        self,
        *,
        settings: Settings,
        chat: ChatService,
        extensions: Sequence[str] = EXTENSIONS,
        sync_global: bool = False,
        on_close: Sequence[Callable[[], Awaitable[object]]] = (),
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
        self.initial_extensions = tuple(extensions)
        self.sync_global = sync_global
        self._on_close = list(on_close)

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

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            for close in self._on_close:
                await close()
            self._on_close.clear()


class ShardedMemoryBot(MemoryBot, commands.AutoShardedBot):
    """The same bot over several gateway shards (a bot in many servers). Memory must then be
    shared by every process running shards: use DATABASE_URL (PostgreSQL)."""


def create_bot(
    settings: Settings, *, model: Model | None = None, sync_global: bool = False
) -> MemoryBot:
    """A ready bot over the memory file in `settings`; closing the bot closes the file.

    `model` defaults to the one the settings select (the offline model without a key).
    """
    store = open_memory(settings)
    chat = ChatService.from_settings(store, settings, model)
    options: dict[str, Any] = {
        "settings": settings,
        "chat": chat,
        "sync_global": sync_global,
        "on_close": [chat.aclose, store.aclose],
    }
    if settings.sharded:
        # The default stays a plain Bot: dpytest (and a bot in a few servers) needs no shards.
        return ShardedMemoryBot(
            **options, shard_count=settings.shard_count, shard_ids=settings.shard_ids
        )
    return MemoryBot(**options)


async def run_discord(settings: Settings, *, sync_global: bool = False) -> None:
    """Run the bot until SIGINT/SIGTERM (or the connection ends), then close it cleanly."""
    if not settings.discord_token:
        raise SystemExit("error: DISCORD_TOKEN is not set; put it in .env or the environment.")
    bot = create_bot(settings, sync_global=sync_global)
    try:
        await check_memory(bot.chat.store, settings)
    except BaseException:
        await bot.close()
        raise
    log.info(
        "starting the Discord bot; memory in %s; model: %s",
        describe_memory(settings),
        describe_model(settings),
    )
    try:
        with stop_on_signals() as stop:
            async with bot:
                connection = asyncio.create_task(bot.start(discord_token(settings)))
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
                        log.warning("the connection did not close in time; cancelled it")
    finally:
        # `async with` closes the bot; this covers a failure before it was entered.
        if not bot.is_closed():
            await bot.close()
    log.info("Discord bot stopped")


def raise_start_error(connection: asyncio.Task[None]) -> None:
    """Turn the usual start-up failures into one clear line instead of a traceback."""
    error = connection.exception()
    if error is None:
        return
    if isinstance(error, discord.LoginFailure):
        raise SystemExit("error: Discord rejected DISCORD_TOKEN; copy the bot token again.")
    if isinstance(error, discord.PrivilegedIntentsRequired):
        raise SystemExit(
            "error: enable the Message Content intent for this bot in the Discord Developer "
            "Portal (Bot → Privileged Gateway Intents), then start it again."
        )
    if isinstance(error, OSError | aiohttp.ClientError | discord.GatewayNotFound):
        log.debug("connecting to Discord failed", exc_info=error)
        raise SystemExit(
            f"error: could not reach Discord ({type(error).__name__}); check this machine's "
            "internet connection (and any proxy or firewall), then start the bot again."
        )
    if isinstance(error, discord.DiscordServerError):
        log.debug("Discord failed at start", exc_info=error)
        raise SystemExit("error: Discord answered with a server error; try again in a few minutes.")
    raise error
