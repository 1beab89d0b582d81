"""The bot object itself: intents, mention policy, start-up sync, closing, serving it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands
from discord_support import SLASH_COMMANDS, settings_for

from bot.app import create_bot, serve
from bot.core.domain import UserKey
from bot.frontends.discord.bot import EXTENSIONS, MemoryBot
from bot.frontends.errors import StartError
from bot.settings import SettingsError

DISCORD_1 = UserKey.parse("discord:1")

DEV_GUILD = 555555555555555555


def test_intents_are_minimal_and_mentions_are_off_bot_wide(tmp_path: Path) -> None:
    bot = create_bot(settings_for(tmp_path))
    try:
        wanted = discord.Intents.none()
        wanted.guilds = wanted.guild_messages = wanted.dm_messages = True
        wanted.message_content = True
        assert bot.intents == wanted
        assert not bot.intents.members and not bot.intents.presences
        mentions = bot.allowed_mentions
        assert mentions is not None and mentions.to_dict() == {"parse": []}
        assert not mentions.replied_user
        # The prefix alone, and (see test_discord_edges) the prefix after an @mention.
        assert bot.command_prefix(bot, None) == ["!"]  # type: ignore[operator,arg-type]
    finally:
        asyncio.run(bot.chat.store.aclose())


async def test_closing_the_bot_closes_its_memory_file(tmp_path: Path) -> None:
    bot = create_bot(settings_for(tmp_path))
    async with bot:
        assert (await bot.chat.store.memory(DISCORD_1)).facts() == {}
    assert bot.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        (await bot.chat.store.memory(DISCORD_1)).facts()


@dataclass
class StartUp:
    synced: list[int | str]  # guild ids, or "global"
    extensions: list[str]
    guild_commands: set[str]


async def start_up(bot: MemoryBot, monkeypatch: pytest.MonkeyPatch) -> StartUp:
    """Run setup_hook with the tree's HTTP sync replaced by a recorder; note what was set up
    before the bot closes again (closing unloads extensions)."""
    synced: list[int | str] = []

    async def sync(*, guild: discord.abc.Snowflake | None = None) -> list[Any]:
        synced.append(guild.id if guild else "global")
        return [object()] * len(bot.tree.get_commands(guild=guild))

    monkeypatch.setattr(bot.tree, "sync", sync)
    async with bot:
        await bot.setup_hook()
        commands = bot.tree.get_commands(guild=discord.Object(DEV_GUILD))
        return StartUp(synced, list(bot.extensions), {c.name for c in commands})


async def test_setup_hook_loads_cogs_and_syncs_to_the_dev_guild_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = create_bot(settings_for(tmp_path, dev_guild_id=DEV_GUILD))
    started = await start_up(bot, monkeypatch)
    assert started.synced == [DEV_GUILD]
    assert started.extensions == list(EXTENSIONS)
    assert started.guild_commands == SLASH_COMMANDS


async def test_no_sync_without_a_dev_guild_and_global_only_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = await start_up(create_bot(settings_for(tmp_path)), monkeypatch)
    assert plain.synced == [] and plain.extensions == list(EXTENSIONS)
    on_request = create_bot(settings_for(tmp_path, dev_guild_id=DEV_GUILD), sync_global=True)
    assert (await start_up(on_request, monkeypatch)).synced == ["global"]


async def test_a_failed_sync_does_not_stop_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = create_bot(settings_for(tmp_path, dev_guild_id=DEV_GUILD))

    class Response:
        status, reason = 403, "Forbidden"

    async def refuse(**_: Any) -> None:
        raise discord.Forbidden(Response(), "Missing Access")

    monkeypatch.setattr(bot.tree, "sync", refuse)
    async with bot:
        await bot.setup_hook()
        assert set(bot.extensions) == set(EXTENSIONS)
    assert "applications.commands" in caplog.text


async def test_run_discord_without_a_token_exits_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DISCORD_TOKEN is not set"):
        await serve(settings_for(tmp_path), "discord")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (discord.LoginFailure("Improper token has been passed."), "rejected DISCORD_TOKEN"),
        (discord.PrivilegedIntentsRequired(None), "Message Content intent"),
    ],
)
async def test_run_discord_turns_start_failures_into_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, said: str
) -> None:
    async def start(self: MemoryBot, token: str, *, reconnect: bool = True) -> None:
        raise error

    monkeypatch.setattr(MemoryBot, "start", start)
    with pytest.raises(StartError, match=said):
        await serve(settings_for(tmp_path, discord_token="x.y.z"), "discord")


SIGNAL_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, os, signal, sys
    from bot.app import serve
    from bot.core.domain import UserKey
    from bot.frontends.discord.bot import MemoryBot
    from bot.settings import Settings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    seen = {}

    async def start(self, token, *, reconnect=True):
        # Stands in for the gateway connection: runs until the bot is closed.
        seen["bot"] = self
        seen["token_given"] = token == "secret.token.value"
        os.kill(os.getpid(), getattr(signal, sys.argv[2]))
        while not self.is_closed():
            await asyncio.sleep(0.01)

    MemoryBot.start = start
    settings = Settings(
        discord_token="secret.token.value", memory_db_path=sys.argv[1], env_file=None
    )
    asyncio.run(serve(settings, "discord"))
    store_closed = False
    try:
        asyncio.run(seen["bot"].chat.store.memory(UserKey("discord", "1")))
    except RuntimeError:
        store_closed = True
    print(json.dumps({
        "token_given": seen["token_given"],
        "bot_closed": seen["bot"].is_closed(),
        "store_closed": store_closed,
    }))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_run_discord_shuts_down_cleanly_on_a_signal(tmp_path: Path, signal_name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SIGNAL_SCRIPT, str(tmp_path / "memory.db"), signal_name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures == {"token_given": True, "bot_closed": True, "store_closed": True}
    assert "model: offline model" in proc.stderr
    assert "stop signal received" in proc.stderr
    assert "secret.token.value" not in proc.stderr


async def test_shards_only_when_asked(tmp_path: Path) -> None:
    plain = create_bot(settings_for(tmp_path))
    sharded = create_bot(settings_for(tmp_path, shard_count=4, shard_ids=[1, 3]))
    try:
        assert not isinstance(plain, commands.AutoShardedBot)
        assert isinstance(sharded, commands.AutoShardedBot)
        assert sharded.shard_count == 4 and list(sharded.shard_ids) == [1, 3]
        assert sharded.allowed_mentions.to_dict() == {"parse": []}
        assert sharded.intents == plain.intents
    finally:
        await plain.chat.store.aclose()
        await sharded.chat.store.aclose()
