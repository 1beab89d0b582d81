"""The Slack path for `make bench`: a signed event in, the reply's chat.postMessage out.

`slack_path()` starts the fake Slack Web API and the real Bolt app over HTTP on 127.0.0.1,
on a fresh memory file, with the zero-latency offline model, and yields `send(user_id, text)`:
it posts one signed DM event and returns when the reply reached the fake Web API. The lead's
`bench.py` divides its time by `ChatService.turn`'s (`slack_overhead_ratio`).

Run alone (`.venv/bin/python bench/slack_path.py`) it prints that ratio, interleaved with a
null test (the baseline against itself).
"""

from __future__ import annotations

import asyncio
import contextlib
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
