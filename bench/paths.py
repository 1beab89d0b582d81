"""The front ends wired for the bench: Discord (the real bot under dpytest) and the console.

Each is an async context manager yielding a `FrontEndPath`. Another front end joins the
bench the same way: a module `bench/<name>_path.py` with

    def open_path(settings: Settings, model: Model) -> AsyncContextManager[FrontEndPath]

(the Slack front end's is `bench/slack_path.py`); `bench.py` measures every such module as
`<name>_overhead_ratio` against `ChatService.turn` on the service it drives.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agents import Model
from common import ROOT
from overhead import FrontEndPath, WrongAnswer

from bot.core.chat import ChatService
from bot.frontends.console import run_console
from bot.memory import open_store
from bot.settings import Settings

# The dpytest helpers the Discord tests use (tests/ is not a package).
sys.path.insert(0, str(ROOT / "tests"))

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


class _Lines(io.TextIOBase):
    """The console's stdin: `readline` blocks (in the console's reader thread) until the
    bench hands it a line."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self.lines.get()

    def isatty(self) -> bool:
        return False


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


@contextlib.asynccontextmanager
async def console_path(settings: Settings, model: Model, users: int) -> AsyncIterator[FrontEndPath]:
    """`run_console` as `python -m bot console` runs it (no per-user rate limit; what each
    turn stored is printed), reading lines handed to its stdin one at a time. A console has
    one user, so every sample is that user; the baseline is one other console user."""
    del users  # one person per console
    async with open_store(settings) as store:
        service = ChatService.from_settings(store, settings, model, rate_limited=False)
        stdin = _Lines()
        stdout = _Replies(asyncio.get_running_loop())
        console = asyncio.create_task(
            run_console(
                service, "bench", show_added=settings.show_turn_embed, stdin=stdin, stdout=stdout
            )
        )

        async def send(i: int, text: str) -> None:
            stdout.done = asyncio.get_running_loop().create_future()
            stdin.lines.put(text + "\n")
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
            stdin.lines.put("")  # end of input: the console returns
            await asyncio.wait_for(console, 10)
            await service.aclose()


def plugged_paths() -> dict[str, Any]:
    """Front ends that brought their own `bench/<name>_path.py` (e.g. Slack), by name."""
    found: dict[str, Any] = {}
    for file in sorted(Path(__file__).parent.glob("*_path.py")):
        name = file.stem.removesuffix("_path")
        module = __import__(file.stem)
        if callable(getattr(module, "open_path", None)):
            found[name] = module.open_path
    return found
