"""700 members chatting at once under `ulimit -n 1024`: open descriptors stay bounded.

Runs in a subprocess so the descriptor limit and the counts belong to that process alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

MEMBERS = 700
FD_LIMIT = 1024

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, resource, sys
    sys.path.insert(0, "tests")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[3]), hard))

    import discord.ext.test as dpytest
    from agents import set_tracing_disabled
    from discord_support import drain, member_named, start_bot, stop_bot
    from bot.settings import Settings

    set_tracing_disabled(True)

    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    def word(n):
        letters = ""
        while True:
            letters += chr(ord("a") + n % 26)
            n //= 26
            if n == 0:
                return letters.capitalize()

    async def main():
        members_wanted = int(sys.argv[2])
        settings = Settings(
            memory_db_path=sys.argv[1], bot_model="offline", chat_channel_ids="*", env_file=None
        )
        bot = await start_bot(settings, members=0, text_channels=4)
        channels = dpytest.get_config().channels
        members = [member_named(f"Member{n}") for n in range(members_wanted)]
        before = open_fds()
        peak = before
        running = True

        async def sample():
            nonlocal peak
            while running:
                peak = max(peak, open_fds())
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())

        async def say(n, text):
            await dpytest.message(text, channel=channels[n % len(channels)], member=members[n])

        await asyncio.gather(*(
            say(n, f"My name is Ann{word(n)} and I live in Ville{word(n)}")
            for n in range(members_wanted)
        ))
        told = [m.content for m in drain()]
        await asyncio.gather(*(say(n, "What's my city?") for n in range(members_wanted)))
        asked = [m.content for m in drain()]
        running = False
        await sampler

        recalled = 0
        for n, member in enumerate(members):
            key = f"discord:{member.id}"
            facts = await bot.chat.store.facts(key)
            items = await bot.chat.store.all_items(key)
            last = items[-1]["content"][0]["text"] if items else ""
            if facts == {"name": f"Ann{word(n)}", "city": f"Ville{word(n)}"} and (
                last == f"Your city is Ville{word(n)}."
            ):
                recalled += 1
        expected_told = {
            f"Nice to meet you, Ann{word(n)}! I'll remember that you live in Ville{word(n)}."
            for n in range(members_wanted)
        }
        await stop_bot(bot)
        print(json.dumps({
            "members": members_wanted,
            "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "told_replies": len(told),
            "told_as_expected": set(told) == expected_told,
            "asked_replies": len(asked),
            "recalled": recalled,
            "fds_before": before,
            "peak_fds": peak,
            "fds_after_close": open_fds(),
        }))

    asyncio.run(main())
    """
)


def test_700_members_chatting_keep_open_descriptors_bounded(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "memory.db"), str(MEMBERS), str(FD_LIMIT)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["fd_limit"] == FD_LIMIT
    assert figures["told_replies"] == MEMBERS and figures["told_as_expected"], figures
    assert figures["asked_replies"] == MEMBERS, figures
    # Every member got their own city back, from their own memory.
    assert figures["recalled"] == MEMBERS, figures
    # Descriptors scale with the worker threads, not with the number of members.
    assert figures["peak_fds"] - figures["fds_before"] < 100, figures
    assert figures["fds_after_close"] <= figures["fds_before"], figures
