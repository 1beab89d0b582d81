"""pytest fixtures for the Discord tests: bots started on demand, and a wire recorder.

Loaded with `pytest_plugins = ["discord_fixtures"]` (tests/conftest.py belongs to the core).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import discord.abc
import discord.message
import pytest
from agents import Model
from discord.ext.test import callbacks
from discord_support import BotFactory, Wire, settings_for, start_bot, stop_bot

from bot.frontends.discord.bot import MemoryBot
from bot.settings import Settings


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    """Record every outgoing payload: `Messageable.send` builds each one with
    `handle_message_parameters`, which merges the per-send and bot-wide allowed_mentions."""
    record = Wire()
    build = discord.abc.handle_message_parameters

    def recorder(kind: str) -> Any:
        def recording(*args: Any, **kwargs: Any) -> Any:
            params = build(*args, **kwargs)
            record.payloads.append(params.payload or {})
            record.kinds.append(kind)
            return params

        return recording

    monkeypatch.setattr(discord.abc, "handle_message_parameters", recorder("send"))
    # Edits (a streamed answer growing in place) are built by the same function.
    monkeypatch.setattr(discord.message, "handle_message_parameters", recorder("edit"))

    async def typed(channel: Any) -> None:
        record.typing.append(channel.id)
        record.typed_before_payload.append(len(record.payloads))

    callbacks.set_callback(typed, "send_typing")
    yield record
    callbacks.remove_callback("send_typing")


@pytest.fixture
async def make_bot(tmp_path: Path) -> AsyncIterator[BotFactory]:
    """Start bots on demand (sharing tmp_path's memory file); all are closed afterwards."""
    started: list[MemoryBot] = []

    async def factory(
        settings: Settings | None = None, *, model: Model | None = None, **kwargs: Any
    ) -> MemoryBot:
        bot = await start_bot(settings or settings_for(tmp_path), model=model, **kwargs)
        started.append(bot)
        return bot

    yield factory
    for bot in started:
        if not bot.is_closed():
            await stop_bot(bot)
