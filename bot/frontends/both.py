"""Discord and Slack in one process, over one chat service (one memory, separate keys)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..core.chat import ChatService
from ..memory.opening import opened_memory
from .discord.bot import SHUTDOWN_GRACE_SECONDS, MemoryBot, discord_token, raise_start_error
from .signals import stop_on_signals
from .slack.app import check_settings, run_slack

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)


async def run_discord_and_slack(settings: Settings) -> None:
    """Both front ends until SIGINT/SIGTERM, or until either one stops (then both stop)."""
    check_settings(settings)
    async with opened_memory(settings) as store:
        chat = ChatService.from_settings(store, settings)
        bot = MemoryBot(settings=settings, chat=chat)
        try:
            with stop_on_signals() as stop:
                async with bot:
                    discord_task = asyncio.create_task(bot.start(discord_token(settings)))
                    slack_task = asyncio.create_task(run_slack(settings, chat=chat, stop=stop))
                    await asyncio.wait(
                        {discord_task, slack_task}, return_when=asyncio.FIRST_COMPLETED
                    )
                    stop.set()
                    await bot.close()
                    await asyncio.wait({discord_task}, timeout=SHUTDOWN_GRACE_SECONDS)
                    if not discord_task.done():
                        log.warning("the Discord connection did not close in time; cancelled it")
                        discord_task.cancel()
                    await slack_task  # re-raises a Slack start-up error (one line in __main__)
                    if discord_task.done() and not discord_task.cancelled():
                        raise_start_error(discord_task)
        finally:
            await chat.aclose()
