"""The issue's closing transcript, from a real run: an admin sets a channel persona and a
quota on Discord (dpytest), a member hits the quota, `!usage`, then `/healthz` and a
`/metrics` scrape over 127.0.0.1. The model is the project's scripted OpenAI-compatible HTTP
server, which answers in pirate talk only when the persona reached it (and reports usage).

`pytest -s tests/frontends/discord/test_discord_operating.py` prints the transcript."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import discord
import discord.ext.test as dpytest
from discord.ext.test import backend
from discord_support import BotFactory, drain, member_named, settings_for
from openai_server import FakeOpenAIServer, Reply

from bot.ops.metrics import Metrics
from bot.ops.server import ops_server

pytest_plugins = ["discord_fixtures"]

PERSONA = "You are Captain Memo, a cheerful pirate. Keep answers short."


def persona_reply(body: dict) -> Reply:
    system = " ".join(
        str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"
    )
    last = body["messages"][-1]["content"]
    if "Captain Memo" in system:
        return Reply(f"Arr, ye said: {last!r}. Captain Memo be listenin'!")
    return Reply(f"You said: {last!r}.")


async def test_the_transcript_of_running_it_for_a_community(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    lines: list[str] = []
    with FakeOpenAIServer() as server:
        server.enqueue(*([persona_reply] * 3))
        settings = settings_for(
            tmp_path,
            openai_base_url=server.base_url,
            openai_api="chat_completions",
            bot_model="test-model",
            stream_replies=False,
            model_max_retries=0,
            show_turn_embed=False,
        )
        bot = await make_bot(settings)
        guild = dpytest.get_config().guilds[0]
        general = dpytest.get_config().channels[0]
        managers = backend.make_role(
            "Managers", guild, permissions=discord.Permissions(manage_guild=True).value
        )
        mod, ada = member_named("Mod"), member_named("Ada")
        await dpytest.add_role(mod, managers)

        async def say(who: discord.Member, text: str) -> list[discord.Message]:
            lines.append(f"[#{general.name}] {who.display_name}: {text}")
            await dpytest.message(text, channel=general, member=who)
            sent = drain()
            for message in sent:
                where = "DM" if isinstance(message.channel, discord.DMChannel) else general.name
                lines.append(f"[#{where}] bot: " + message.content.replace("\n", "\n    "))
            return sent

        await say(mod, f"!config instructions {general.mention} {PERSONA}")
        await say(mod, "!config limit turns-per-user 2")
        shown = await say(mod, "!config")
        await say(ada, "Ahoy! What's the weather like at sea?")
        await say(ada, "Tell me a short joke.")
        refused = await say(ada, "One more, please?")
        usage = await say(ada, "!usage")

        metrics = bot.chat.observer
        assert isinstance(metrics, Metrics)
        bot.chat.connections.connected("discord")  # dpytest has no gateway to report it
        async with (
            ops_server(bot.chat, metrics, host="127.0.0.1", port=0) as url,
            aiohttp.ClientSession() as session,
        ):
            async with session.get(f"{url}/healthz") as health:
                lines.append(f"$ curl -s {url}/healthz   # HTTP {health.status}")
                lines.append((await health.text()).rstrip())
                assert health.status == 200
            async with session.get(f"{url}/metrics") as scrape:
                body = await scrape.text()
        lines.append(f"$ curl -s {url}/metrics | grep -v '^#' | grep -v _created")
        lines += [
            line
            for line in body.splitlines()
            if line.startswith("memorybot_")
            and "_created" not in line
            and ("_bucket" not in line or 'le="0.5"' in line or 'le="+Inf"' in line)
        ]
    print("\n" + "\n".join(lines))

    assert "instructions in <#" in shown[0].content and "Captain Memo" in shown[0].content
    answers = [line for line in lines if line.startswith(f"[#{general.name}] bot: Arr, ye said")]
    assert len(answers) == 2  # the persona reached the model for both turns
    assert refused[0].content.startswith("You've reached the daily limit of 2 messages")
    assert "today: 2 turns" in usage[0].content
    assert 'memorybot_turns_total{frontend="discord",outcome="ok"} 2.0' in body
    assert 'memorybot_turn_refusals_total{reason="daily_turns_per_user"} 1.0' in body
    assert 'memorybot_model_requests_total{frontend="discord"} 2.0' in body
    assert "Ahoy" not in body and str(ada.id) not in body
