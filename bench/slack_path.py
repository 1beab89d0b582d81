"""The Slack path for `make bench`: a signed event in, the reply's chat.postMessage out.

`slack_path()` starts the fake Slack Web API and the real Bolt app over HTTP on 127.0.0.1,
on a fresh memory file, with the zero-latency offline model, and yields `send(user_id, text)`:
it posts one signed DM event and returns when the reply reached the fake Web API. `bench.py`
divides its time by `ChatService.turn`'s.

The fake Slack runs in the bench's own process, so its work (signing and sending the event,
receiving and recording chat.postMessage) is timed with the bot's. `slack_fake_path()` times
that work alone: the same signed event to a bare endpoint that only acknowledges it, and the
bot's own chat.postMessage request (its bytes as the bot sent them) to the same fake Web API,
each through a minimal HTTP/1.1 exchange in the bot's place. `bench.py` reports it
(`slack_fake_ms_p50`) and `slack_overhead_ratio` as (Slack path − fake Slack) ÷ turn, beside
the ratio with the fake's work left in (`slack_overhead_ratio_with_fake`).

Run alone (`.venv/bin/python bench/slack_path.py`) it prints that ratio, interleaved with a
null test (the baseline against itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.models import select_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the fake Slack lives with the tests

from agents import set_tracing_disabled  # noqa: E402
from slack_api_server import BOT_TOKEN, FakeSlackAPI, SignedSender, dm  # noqa: E402
from slack_support import slack_bot  # noqa: E402

from bot.core.chat import ChatService  # noqa: E402
from bot.memory import SqlMemoryStore  # noqa: E402
from bot.settings import Settings  # noqa: E402

set_tracing_disabled(True)
Send = Callable[[str, str], Awaitable[None]]


@contextlib.asynccontextmanager
async def slack_path(db: Path | None = None) -> AsyncIterator[Send]:
    """`send(user_id, text)` through the whole Slack path; see the module docstring."""
    with tempfile.TemporaryDirectory() as tmp:
        path = db or Path(tmp) / "memory.db"
        # No per-user rate limit: a benchmark sends far more than a person would.
        async with slack_bot(path, rate_limit_per_minute=0) as bot:

            async def send(user_id: str, text: str) -> None:
                await bot.dm(user_id, text)

            yield send


def _http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> None:
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)


async def _read_request(reader: asyncio.StreamReader) -> bool:
    length = 0
    line = await reader.readline()
    if not line:
        return False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return True


async def _bot_post_message(db: Path) -> bytes:
    """A chat.postMessage request exactly as the bot makes it for an answer (body as sent)."""
    async with slack_bot(db, rate_limit_per_minute=0) as bot:
        call = await bot.dm("U0", "I'm Ada from Lisbon")
    body = json.dumps({k: v for k, v in call.body.items()}).encode()
    headers = {
        "Authorization": f"Bearer {BOT_TOKEN}",
        "Content-Type": "application/json;charset=utf-8",
    }
    return _http_request("/api/chat.postMessage", body, headers)


@contextlib.asynccontextmanager
async def slack_fake_path(db: Path | None = None) -> AsyncIterator[Send]:
    """`send(user_id, text)` through the fake Slack alone (see the module docstring): what the
    Slack path costs with no bot in it, on the same fake Web API and the same sender."""
    with tempfile.TemporaryDirectory() as tmp:
        request = await _bot_post_message(db or Path(tmp) / "probe.db")
    async with FakeSlackAPI() as api:
        host, port = api.base.removeprefix("http://").split(":")
        to_api_reader, to_api = await asyncio.open_connection(host, int(port))
        posts: set[asyncio.Task[None]] = set()

        async def post() -> None:
            to_api.write(request)
            await _read_response(to_api_reader)

        async def endpoint(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await _read_request(reader):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                task = asyncio.ensure_future(post())
                posts.add(task)
                task.add_done_callback(posts.discard)
            writer.close()

        server = await asyncio.start_server(endpoint, "127.0.0.1", 0)
        sender = SignedSender(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
        try:

            async def send(user_id: str, text: str) -> None:
                before = api.count("chat.postMessage")
                assert await sender.event(dm(user_id, text)) == 200
                await api.wait_for("chat.postMessage", before + 1)

            yield send
        finally:
            await sender.aclose()
            server.close()
            to_api.close()


async def measure(turns: int = 300, users: int = 20) -> dict[str, float]:
    """Median seconds per turn: Slack path, ChatService.turn, and ChatService.turn again."""
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            slack_path(Path(tmp) / "slack.db") as send,
            SqlMemoryStore(Path(tmp) / "core.db") as store_a,
            SqlMemoryStore(Path(tmp) / "null.db") as store_b,
        ):
            # The same service the Slack path runs: the same settings, model and limits.
            settings = Settings(bot_model="offline", rate_limit_per_minute=0, env_file=None)
            core = ChatService(store_a, select_model(settings), ChatConfig.from_settings(settings))
            null = ChatService(store_b, select_model(settings), ChatConfig.from_settings(settings))
            runs: dict[str, Callable[[str, str], Awaitable[object]]] = {
                "slack": send,
                "turn": lambda user, text: core.turn(UserKey.parse(f"slack:T:{user}"), text),
                "null": lambda user, text: null.turn(UserKey.parse(f"slack:T:{user}"), text),
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            for n in range(turns):
                user = f"U{n % users}"
                text = "I'm Ada from Lisbon" if n % 2 == 0 else "What's my city?"
                for name, run in runs.items():
                    started = time.perf_counter()
                    await run(user, text)
                    times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "slack_ms_p50": medians["slack"] * 1000,
        "turn_ms_p50": medians["turn"] * 1000,
        "slack_overhead_ratio": medians["slack"] / medians["turn"],
        "null_ratio": medians["null"] / medians["turn"],
    }


if __name__ == "__main__":
    for key, value in asyncio.run(measure()).items():
        print(f"{key:22} {value:.3f}")
