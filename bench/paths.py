"""The front ends wired for the bench: Discord (the real bot under dpytest), the console, and
any front end that brings its own path module.

Discord and the console are async context managers yielding a `FrontEndPath` (their
baseline is `ChatService.turn` on the very service they drive). Another front end joins
the bench with a module `bench/<name>_path.py` exposing

    <name>_path(db: Path) -> AsyncContextManager[send]   # send(user_id: str, text: str)

which runs the whole front end on the memory file `db` with the offline model and no rate
limit; `send` returns once the reply has gone out. `bench.py` finds such modules and reports
`<name>_overhead_ratio` against `ChatService.turn` (offline model, no rate limit) on a file
beside it, alternating per sample (`measure_plugged`). The Slack front end's is
`bench/slack_path.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import os
import statistics
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from agents import Model
from common import ROOT, Sizes, alternate, bench_settings, ratio, summary
from overhead import FrontEndPath, WrongAnswer

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.frontends.console import run_console
from bot.memory import open_store
from bot.models import offline_model
from bot.settings import Settings

# The dpytest helpers the Discord tests use (tests/ is not a package).
sys.path.insert(0, str(ROOT / "tests" / "support"))

import discord.ext.test as dpytest  # noqa: E402
from discord_support import drain, start_bot, stop_bot  # noqa: E402


@contextlib.asynccontextmanager
async def discord_path(settings: Settings, model: Model, users: int) -> AsyncIterator[FrontEndPath]:
    """The real bot from `create_bot`, driven by dpytest: a guild message in, the reply (and
    the turn embed, as shipped) out through discord.py's own sending code."""
    bot = await start_bot(settings, model=model, members=2 * users, text_channels=1)
    try:
        config = dpytest.get_config()
        channel = config.channels[0]
        members = list(config.members)
        drain()

        async def send(i: int, text: str) -> None:
            await dpytest.message(text, channel=channel, member=members[i])
            sent = [m.content or "" for m in drain()]
            if not any(f"answer to {text}" == content.strip() for content in sent):
                raise WrongAnswer(f"Discord sent {sent!r} for {text!r}")

        yield FrontEndPath(
            send=send,
            service=bot.chat,
            sender_key=lambda i: f"discord:{members[i].id}",
            baseline_key=lambda i: f"discord:{members[users + i].id}",
            db=settings.memory_db_path,
        )
    finally:
        await stop_bot(bot)


class _Replies(io.TextIOBase):
    """The console's stdout: collects what it prints; the console's flush at the end of a
    reply resolves the bench's wait for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.text: list[str] = []
        self.done: asyncio.Future[str] | None = None

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text.append(s)
        return len(s)

    def flush(self) -> None:
        done = self.done
        if done is not None and self.text:
            written, self.text = "".join(self.text), []
            self.loop.call_soon_threadsafe(_resolve, done, written)

    def isatty(self) -> bool:
        return False


def _resolve(future: asyncio.Future[str], value: str) -> None:
    if not future.done():
        future.set_result(value)


def _input_pipe() -> tuple[TextIO, int]:
    """A real pipe: its read end is the console's stdin (read as a piped file is), its write
    end is where the bench writes each line."""
    read_fd, write_fd = os.pipe()
    return open(read_fd, encoding="utf-8"), write_fd


@contextlib.asynccontextmanager
async def console_path(settings: Settings, model: Model, users: int) -> AsyncIterator[FrontEndPath]:
    """`run_console` as `python -m bot console` runs it (no per-user rate limit; what each
    turn stored is printed), reading lines handed to its stdin one at a time. A console has
    one user, so every sample is that user; the baseline is one other console user. Lines go
    in through an OS pipe, replies come out of a stdout whose flush ends each wait."""
    del users  # one person per console
    stdin, write_fd = _input_pipe()
    async with open_store(settings) as store:
        service = ChatService(store, model, ChatConfig.from_settings(settings, rate_limited=False))
        stdout = _Replies(asyncio.get_running_loop())
        with stdin:
            console = asyncio.create_task(
                run_console(
                    service,
                    "bench",
                    show_added=settings.show_turn_embed,
                    stdin=stdin,
                    stdout=stdout,
                )
            )

            async def send(i: int, text: str) -> None:
                stdout.done = asyncio.get_running_loop().create_future()
                os.write(write_fd, (text + "\n").encode())
                printed = await stdout.done
                stdout.done = None
                if f"bot> answer to {text}" not in printed:
                    raise WrongAnswer(f"the console printed {printed[:200]!r} for {text!r}")

            try:
                yield FrontEndPath(
                    send=send,
                    service=service,
                    sender_key=lambda i: "console:bench",
                    baseline_key=lambda i: "console:baseline",
                    db=settings.memory_db_path,
                )
            finally:
                os.close(write_fd)  # end of input: the console returns
                await asyncio.wait_for(console, 10)


def plugged_paths() -> dict[str, Any]:
    """Front ends that brought their own `bench/<name>_path.py`, by name."""
    found: dict[str, Any] = {}
    for file in sorted(Path(__file__).parent.glob("*_path.py")):
        name = file.stem.removesuffix("_path")
        opener = getattr(importlib.import_module(file.stem), file.stem, None)
        if callable(opener):
            found[name] = opener
    return found


def ada_or_city(i: int) -> str:
    # The offline model saves a fact, then reads it back: both tools run, as for a person.
    return "I'm Ada from Lisbon" if i % 2 == 0 else "What's my city?"


async def measure_plugged(name: str, opener: Any, work: Path, sizes: Sizes) -> dict[str, Any]:
    """`<name>_overhead_ratio` of a plugged-in front end (see the module docstring). When its
    module also has `<name>_fake_path` (the test doubles' own part of the path, timed alone,
    alternating with the other two sides), the ratio is of what is left once that part is
    taken out, and the ratio with it left in is reported beside it."""
    settings = bench_settings(
        work / f"{name}-core.db", history_window=sizes.window, rate_limit_per_minute=0
    )
    fake_opener = getattr(importlib.import_module(f"{name}_path"), f"{name}_fake_path", None)
    async with contextlib.AsyncExitStack() as stack:
        send = await stack.enter_async_context(opener(work / f"{name}.db"))
        store = await stack.enter_async_context(open_store(settings))
        service = ChatService(store, offline_model(), ChatConfig.from_settings(settings))

        async def turn(i: int, text: str) -> None:
            result = await service.turn(UserKey.parse(f"{name}:U{i}"), text)
            if not result.ok:
                raise WrongAnswer(f"the baseline turn failed: {result.reply}")

        users = sizes.ratio_users
        sides = [
            lambda i: send(f"U{i % users}", ada_or_city(i)),
            lambda i: turn(i % users, ada_or_city(i)),
        ]
        if fake_opener is not None:
            fake = await stack.enter_async_context(fake_opener(work / f"{name}-probe.db"))
            sides.append(lambda i: fake(f"U{i % users}", ada_or_city(i)))
        times = await alternate(sides, sizes.samples, sizes.warmup)
    front, core = times[0], times[1]
    figures = {
        f"{name}_overhead_ratio": ratio(front, core),
        **summary(f"{name}_turn", front),
        **summary(f"{name}_core_turn", core),
    }
    if fake_opener is not None:
        fake_p50 = statistics.median(times[2])
        own = (statistics.median(front) - fake_p50) / statistics.median(core)
        figures |= {
            f"{name}_overhead_ratio": round(own, 3),
            f"{name}_overhead_ratio_with_fake": ratio(front, core),
            **summary(f"{name}_fake", times[2]),
        }
    return figures
