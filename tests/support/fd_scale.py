"""Many people talking at once under a low open-file limit, in a process of its own (so the
limit and the descriptor counts belong to it alone). Prints one JSON line of figures.

    python tests/support/fd_scale.py core DB USERS FD_LIMIT      # the chat service, users
    python tests/support/fd_scale.py discord DB MEMBERS FD_LIMIT # the Discord bot, dpytest
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def word(n: int) -> str:
    """A distinct word for each n: a, b, ..., z, ba, bb, ... (capitalised)."""
    letters = ""
    while True:
        letters += chr(ord("a") + n % 26)
        n //= 26
        if n == 0:
            return letters.capitalize()


def told(n: int) -> str:
    return f"My name is Ann{word(n)} and I live in Ville{word(n)}"


class Peak:
    """The most descriptors open at once while `watching` runs (sampled every 2 ms)."""

    def __init__(self) -> None:
        self.before = self.peak = open_fds()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                self.peak = max(self.peak, open_fds())
                await asyncio.sleep(0.002)

        sampler = asyncio.create_task(sample())
        try:
            yield
        finally:
            sampler.cancel()
            self.peak = max(self.peak, open_fds())


async def core_users(db: str, users: int) -> dict[str, object]:
    from chat_support import make_service

    from bot.core.domain import UserKey
    from bot.memory import SqlMemoryStore

    peak = Peak()
    errors = 0
    async with SqlMemoryStore(db) as store, peak.watching():
        service = make_service(store)
        for start in range(0, users, 50):
            batch = [
                service.turn(UserKey("console", str(n)), told(n)) for n in range(start, start + 50)
            ]
            errors += sum(not r.ok for r in await asyncio.gather(*batch))
        last = users - 1
        recalled = await service.turn(UserKey("console", str(last)), "What's my city?")
    return {
        "errors": errors,
        "peak_fds": peak.peak,
        "final_fds": open_fds(),
        "recall": recalled.reply,
        "expected": f"Ville{word(last)}",
    }


async def discord_members(db: str, wanted: int) -> dict[str, object]:
    import discord.ext.test as dpytest
    from discord_support import drain, member_named, start_bot, stop_bot

    from bot.core.domain import UserKey
    from bot.settings import Settings

    settings = Settings(memory_db_path=db, bot_model="offline", chat_channel_ids="*", env_file=None)
    bot = await start_bot(settings, members=0, text_channels=4)
    channels = dpytest.get_config().channels
    members = [member_named(f"Member{n}") for n in range(wanted)]
    peak = Peak()

    async def say(n: int, text: str) -> None:
        await dpytest.message(text, channel=channels[n % len(channels)], member=members[n])

    async with peak.watching():
        await asyncio.gather(*(say(n, told(n)) for n in range(wanted)))
        replies = [m.content for m in drain()]
        await asyncio.gather(*(say(n, "What's my city?") for n in range(wanted)))
        asked = [m.content for m in drain()]
    recalled = 0
    for n, member in enumerate(members):
        key = UserKey("discord", str(member.id))
        facts = (await bot.chat.store.memory(key)).facts()
        items = await bot.chat.store.all_items(key)
        last = items[-1]["content"][0]["text"] if items else ""
        wanted_facts = {"name": f"Ann{word(n)}", "city": f"Ville{word(n)}"}
        recalled += facts == wanted_facts and last == f"Your city is Ville{word(n)}."
    expected = {
        f"Nice to meet you, Ann{word(n)}! I'll remember that you live in Ville{word(n)}."
        for n in range(wanted)
    }
    await stop_bot(bot)
    return {
        "members": wanted,
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "told_replies": len(replies),
        "told_as_expected": set(replies) == expected,
        "asked_replies": len(asked),
        "recalled": recalled,
        "fds_before": peak.before,
        "peak_fds": peak.peak,
        "fds_after_close": open_fds(),
    }


def main() -> None:
    mode, db, count, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    from agents import set_tracing_disabled

    set_tracing_disabled(True)
    run = core_users if mode == "core" else discord_members
    print(json.dumps(asyncio.run(run(db, count))))


if __name__ == "__main__":
    main()
