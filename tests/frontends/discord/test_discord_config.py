"""Issue 19 on Discord, through dpytest: `/config` only for Manage Server, the server's and a
channel's instructions reaching the model, where it answers, allow and block lists of users
and roles, daily limits refusing the next turn (and resetting at midnight UTC), `!usage`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest
from agents import Usage
from agents.testing import ScriptedModel, assistant_message
from discord.ext import commands
from discord.ext.test import backend
from discord_support import BotFactory, drain, member_named, settings_for, slash
from openai_server import FakeOpenAIServer, Reply

from bot.core.agent import INSTRUCTIONS
from bot.frontends.discord.bot import MemoryBot
from bot.frontends.discord.users import user_key

pytest_plugins = ["discord_fixtures"]

MANAGE_SERVER = discord.Permissions(manage_guild=True).value
EPHEMERAL = 64


class Clock:
    """A UTC clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def manager(name: str = "Mod") -> discord.Member:
    """A member holding a role with Manage Server."""
    guild = dpytest.get_config().guilds[0]
    role = backend.make_role("Managers", guild, permissions=MANAGE_SERVER)
    member = member_named(name)
    await dpytest.add_role(member, role)
    return member


def role_named(name: str) -> discord.Role:
    return backend.make_role(name, dpytest.get_config().guilds[0])


async def say(text: str, member: discord.Member, channel: int = 0) -> list[discord.Message]:
    await dpytest.message(text, channel=dpytest.get_config().channels[channel], member=member)
    return drain()


def answers(steps: int, *, tokens: int = 0) -> ScriptedModel:
    """A scripted model answering `steps` times, each call spending `tokens` (in and out)."""
    usage = Usage(requests=1, input_tokens=tokens, output_tokens=tokens, total_tokens=2 * tokens)
    return ScriptedModel(
        [[assistant_message(f"answer {n}")] for n in range(steps)], default_usage=usage
    )


async def stored_settings(bot: MemoryBot) -> list:
    guild = dpytest.get_config().guilds[0]
    return await bot.chat.store.place_settings(f"discord:{guild.id}")


async def test_a_member_without_manage_server_cannot_change_settings(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot()
    ada = member_named("Ada")
    channel = dpytest.get_config().channels[0]
    command = bot.tree.get_command("config")
    assert command is not None and command.default_permissions == discord.Permissions(
        manage_guild=True
    )

    for typed in ("!config limit turns-per-user 1", "!config instructions Be rude.", "!config"):
        with pytest.raises(commands.MissingPermissions):  # dpytest re-raises handled errors
            await dpytest.message(typed, channel=channel, member=ada)
        [refused] = drain()
        assert refused.content.startswith("Only members with the Manage Server permission")
    [responded] = await slash(
        bot, monkeypatch, "config", ada, channel, subcommand="instructions", text="Be rude."
    )
    assert responded["data"]["content"].startswith("Only members with the Manage Server")
    assert responded["data"]["flags"] & EPHEMERAL
    assert await stored_settings(bot) == []

    # The same slash command with Manage Server resolved for the member goes through.
    [done] = await slash(
        bot,
        monkeypatch,
        "config",
        ada,
        channel,
        subcommand="instructions",
        permissions=MANAGE_SERVER,
        text="Be kind.",
    )
    assert done["data"]["content"].startswith("Saved the instructions of this server")
    assert [(r.channel, r.name) for r in await stored_settings(bot)] == [("", "instructions")]


async def test_server_and_channel_instructions_reach_the_model_and_the_channels_win(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    model = answers(3)
    await make_bot(settings_for(tmp_path), model=model)
    mod, ada = await manager(), member_named("Ada")
    general, other = dpytest.get_config().channels[:2]

    await say("!config instructions Answer in English. Sign as Memo.", mod)
    [set_channel] = await say(f"!config instructions {general.mention} Talk like a pirate.", mod)
    assert general.mention in set_channel.content
    await say("hello", ada)  # in #general
    await say("hello", ada, channel=1)  # in the other channel
    [in_general, in_other] = [call.system_instructions or "" for call in model.calls]

    for prompt in (in_general, in_other):
        # The fixed memory rules come first, unchanged; the server's instructions below them.
        assert prompt.startswith(INSTRUCTIONS)
        assert prompt.index("Answer in English. Sign as Memo.") > len(INSTRUCTIONS)
    assert "Talk like a pirate." in in_general and "Talk like a pirate." not in in_other
    server_at = in_general.index('<house_rules from="server">')
    channel_at = in_general.index('<house_rules from="channel">')
    assert server_at < channel_at  # the channel's come last ...
    assert "follow the channel's" in in_general  # ... and win where the two differ
    assert f"{other.id}" not in in_general

    # Cleared, they are gone from the next message; the fixed rules stay.
    await say(f"!config instructions {general.mention} clear", mod)
    await say("hello again", ada)
    assert "Talk like a pirate." not in (model.calls[-1].system_instructions or "")
    assert (model.calls[-1].system_instructions or "").startswith(INSTRUCTIONS)


async def test_where_it_answers_defaults_to_chat_channel_ids_and_follows_the_server(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    await make_bot(settings_for(tmp_path, chat_channel_ids=""))
    mod, ada = await manager(), member_named("Ada")
    general, other = dpytest.get_config().channels[:2]
    assert await say("My name is Ada", ada) == []  # as before: no CHAT_CHANNEL_IDS, mentions

    [said] = await say(f"!config where channels {other.mention}", mod)
    assert other.mention in said.content
    assert await say("My name is Ada", ada) == []
    [answered] = await say("My name is Ada", ada, channel=1)
    assert "Ada" in answered.content
    await say("!config where all", mod)
    assert len(await say("What's my name?", ada)) == 1
    await say("!config where mentions", mod)
    assert await say("What's my name?", ada, channel=1) == []
    me = dpytest.get_config().client.user
    [mentioned] = await say(f"<@{me.id}> what's my name?", ada)  # mentions always work
    assert "Ada" in mentioned.content
    assert general.id != other.id


async def test_block_and_allow_lists_of_users_and_roles(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    model = answers(3)
    bot = await make_bot(settings_for(tmp_path), model=model)
    mod, ada, bob = await manager(), member_named("Ada"), member_named("Bob")
    helpers = role_named("Helpers")
    await dpytest.add_role(bob, helpers)

    await say(f"!config block {ada.mention}", mod)
    told = await say("hello", ada)
    assert [m.content for m in told] == [
        "Sorry, this server's admins haven't allowed you to talk to me here. I didn't read "
        "your message, and nothing from it was stored."
    ]
    assert isinstance(told[0].channel, discord.DMChannel)  # privately, not in the channel
    assert await say("hello again", ada) == []  # told once, not on every message
    assert await bot.chat.store.all_items(user_key(ada)) == []
    assert len(model.calls) == 0

    await say(f"!config unlist {ada.mention}", mod)
    await say(f"!config allow {helpers.mention}", mod)  # now only Helpers may talk
    assert len(await say("I'm Bob", bob)) == 1
    assert model.calls and len(model.calls) == 1
    await say(f"!config block {helpers.mention}", mod)  # a blocked role wins over an allow
    assert await say("I'm Bob again", bob) != []  # told privately, once
    assert len(model.calls) == 1
    await say(f"!config unlist {helpers.mention}", mod)
    await say(f"!config allow {bob.mention}", mod)
    assert len(await say("I'm Bob", bob)) == 1
    assert len(model.calls) == 2
    shown = "\n".join(m.content for m in await say("!config", mod))
    assert f"allowed users: {bob.mention}" in shown


async def test_daily_limits_refuse_the_next_turn_store_nothing_and_reset_at_midnight(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    clock = Clock(datetime(2026, 12, 1, 23, 50, tzinfo=UTC))
    model = answers(5, tokens=30)
    bot = await make_bot(settings_for(tmp_path), model=model, clock=clock)
    mod, ada = await manager(), member_named("Ada")

    [set_limit] = await say("!config limit turns-per-user 2", mod)
    assert "2 messages a day per person" in set_limit.content
    await say("one", ada)
    await say("two", ada)
    before = await bot.chat.store.all_items(user_key(ada))
    [refused] = await say("three", ada)
    assert refused.content == (
        "You've reached the daily limit of 2 messages per person in this server. It resets "
        "at midnight UTC (in 10 min). I didn't read this message, and nothing from it was "
        "stored."
    )
    assert len(model.calls) == 2  # the model was not called
    assert await bot.chat.store.all_items(user_key(ada)) == before

    clock.now += timedelta(minutes=11)  # 00:01 UTC: a new day
    [answered] = await say("three again", ada)
    assert answered.content == "answer 2"

    # Tokens: a turn that runs over finishes and counts; the next is refused.
    await say("!config limit turns-per-user default", mod)
    await say("!config limit tokens-per-user 100", mod)
    assert (await say("four", ada))[0].content == "answer 3"  # 60 + 60 tokens: over 100
    [over] = await say("five", ada)
    assert over.content.startswith("You've used your 100 model tokens for today")
    assert "used: 120" in over.content
    assert len(model.calls) == 4

    # The server's budget is shared by everyone in it.
    bob = member_named("Bob")
    await say("!config limit tokens-per-user 0", mod)
    await say("!config limit tokens-per-server 120", mod)
    [server_over] = await say("hi from Bob", bob)
    assert server_over.content.startswith("This server has used its 120 model tokens for today")


async def test_usage_shows_turns_and_tokens_today_and_this_month(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    clock = Clock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    bot = await make_bot(settings_for(tmp_path), model=answers(3, tokens=7), clock=clock)
    ada = member_named("Ada")
    await say("one", ada)
    clock.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    await say("two", ada)
    await say("three", ada)
    [usage] = await say("!usage", ada)
    assert "today: 2 turns, 28 tokens (14 in, 14 out; 2 model requests)" in usage.content
    assert "this month: 3 turns, 42 tokens (21 in, 21 out; 3 model requests)" in usage.content
    assert "No daily limits apply here." in usage.content
    mod = await manager()
    report = "\n".join(m.content for m in await say("!config usage", mod))
    assert f"{ada.mention}: 2 turns, 28 tokens" in report
    # A real model answered (scripted here), so usage does not claim the offline model's 0.
    assert "offline model" not in usage.content
    assert not bot.chat.config.offline_model


async def test_usage_with_the_offline_model_says_its_tokens_are_zero(make_bot: BotFactory) -> None:
    await make_bot()  # the offline model, as the settings ask
    ada = member_named("Ada")
    await say("My name is Ada", ada)
    [usage] = await say("!usage", ada)
    # Its two calls (save_facts, then the answer) run on this machine and cost no tokens.
    assert "today: 1 turn, 0 tokens (0 in, 0 out; 2 model requests)" in usage.content
    assert "The offline model answers here: it runs on this machine and uses no" in usage.content


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", ["chat_completions", "responses"])
async def test_usage_is_recorded_from_a_real_models_usage_and_shown(
    make_bot: BotFactory, tmp_path: Path, api: str, stream: bool
) -> None:
    with FakeOpenAIServer() as server:
        server.enqueue(Reply("Hello Ada, nice to meet you!"), Reply("Still here."))
        settings = settings_for(
            tmp_path,
            openai_base_url=server.base_url,
            openai_api=api,
            bot_model="test-model",
            stream_replies=stream,
            model_max_retries=0,
        )
        bot = await make_bot(settings)
        ada = member_named("Ada")
        await say("Hi, I'm Ada", ada)
        await say("Are you there?", ada)
        [usage] = await say("!usage", ada)
    requests = [r for r in server.requests if r.path.endswith(("/completions", "/responses"))]
    assert len(requests) == 2
    assert all(r.body.get("stream", False) is stream for r in requests)
    # The server's own counts (see openai_server._answer): the SDK's usage of each run.
    spent_in = sum(max(1, len(json.dumps(r.body)) // 4) for r in requests)
    spent_out = max(1, len("Hello Ada, nice to meet you!") // 4) + max(1, len("Still here.") // 4)
    counted = await bot.chat.store.usage_of(user_key(ada), date(2000, 1, 1), date(2100, 1, 1))
    assert (counted.turns, counted.requests) == (2, 2)
    assert (counted.input_tokens, counted.output_tokens) == (spent_in, spent_out)
    total = spent_in + spent_out
    assert f"today: 2 turns, {total:,} tokens ({spent_in:,} in, {spent_out:,} out;" in usage.content
    assert "offline" not in usage.content


async def test_the_gateways_events_tell_healthz_whether_discord_is_connected(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    connections = bot.chat.connections
    assert connections.problems() == ["discord: not connected yet"]  # create_bot expects it
    for event, problems in (
        ("ready", []),
        ("disconnect", ["discord: disconnected from the gateway"]),
        ("resumed", []),
    ):
        bot.dispatch(event)
        await dpytest.run_all_events()
        assert connections.problems() == problems, event
