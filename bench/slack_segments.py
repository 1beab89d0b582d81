"""Where the Slack path's time goes, segment by segment (a diagnostic, not part of `make bench`).

`.venv/bin/python bench/slack_segments.py [turns]` drives `slack_path` (the bench's Slack path:
signed event in over HTTP, Bolt, the reply's chat.postMessage to the fake Web API) and, after
each message, one `ChatService.turn` alone for comparison. It stamps the time at fixed points
along the path by wrapping functions for the run only (the bot's own, Bolt's `async_dispatch`
and its aiohttp adapter, aiohttp's `ClientSession.request`, the fake Slack's handlers) and
prints each segment's median in milliseconds with whose code runs in it.

The ack goes back to the sender while the turn runs; it is not a segment of its own.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import slack_bolt.app.async_server as bolt_server
from slack_bolt.async_app import AsyncApp

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.frontends.slack import app, replies
from bot.frontends.slack.listeners import events
from bot.memory import SqlMemoryStore
from bot.models import select_model
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the fake Slack lives with the tests

from slack_api_server import FakeSlackAPI, SignedSender  # noqa: E402
from slack_path import slack_path  # noqa: E402

# The points in path order, and whose code runs from each to the next.
POINTS = (
    ("start", "the fake: signs the event"),
    ("send", "the fake's HTTP client sends; aiohttp's server reads the request"),
    ("server", "Bolt's aiohttp adapter builds the request"),
    ("dispatch", "Bolt: context, Web API client, middleware (verification, authorization)"),
    ("redelivery", "the bot's redelivery filter, then Bolt: matching, ack, listener task"),
    ("dispatched", "aiohttp writes the ack; Bolt starts the listener (its keyword arguments)"),
    ("respond_to", "the bot: whose message, which place, which command"),
    ("answer", "the bot: export check, progress timer"),
    ("handle", "the turn (ChatService.handle)"),
    ("handled", "the bot: stop the progress timer, render the reply for Slack"),
    ("post", "the SDK's chat_postMessage up to aiohttp"),
    ("request", "aiohttp's client sends; the fake's server reads the request"),
    ("api", "the fake records and answers; aiohttp's client and the SDK read the answer"),
    ("answered", "the fake's wait wakes up"),
    ("end", ""),
)

_stamps: dict[str, float] = {}


def _stamp(point: str) -> None:
    _stamps.setdefault(point, time.perf_counter())


def _before(owner: Any, name: str, point: str, when: Callable[..., bool] | None = None) -> None:
    """Wrap `owner.name` (sync or async) to stamp `point` when it is called."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args, **kwargs):
                _stamp(point)
            return await original(*args, **kwargs)

    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            if when is None or when(*args, **kwargs):
                _stamp(point)
            return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def _after(owner: Any, name: str, point: str) -> None:
    """Wrap the coroutine function `owner.name` to stamp `point` when it returns."""
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        _stamp(point)
        return result

    setattr(owner, name, wrapper)


def instrument() -> None:
    _before(SignedSender, "post", "send")
    _before(bolt_server, "to_bolt_request", "server")
    _before(AsyncApp, "async_dispatch", "dispatch")
    _after(AsyncApp, "async_dispatch", "dispatched")
    _before(replies.SlackChat, "answer", "answer")
    _after(replies.SlackChat, "answer", "answered")
    _before(ChatService, "handle", "handle")
    _after(ChatService, "handle", "handled")
    _before(replies.SlackChat, "post", "post")
    _before(events, "user_key", "respond_to")

    def is_post(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> bool:
        return str(url).endswith("chat.postMessage")

    _before(aiohttp.ClientSession, "request", "request", when=is_post)

    def is_api_post(self: Any, request: Any) -> bool:
        return request.match_info.get("method") == "chat.postMessage"

    _before(FakeSlackAPI, "_api", "api", when=is_api_post)
    _before(app.RedeliveryFilter, "async_process", "redelivery")


async def measure(turns: int = 300, users: int = 20) -> dict[str, float]:
    """Median milliseconds of each segment, of the whole path, and of a turn alone."""
    instrument()
    segments: dict[str, list[float]] = {point: [] for point, _ in POINTS[:-1]}
    totals: list[float] = []
    alone: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            slack_path(Path(tmp) / "slack.db") as send,
            SqlMemoryStore(Path(tmp) / "core.db") as store,
        ):
            settings = Settings(bot_model="offline", rate_limit_per_minute=0, env_file=None)
            core = ChatService(store, select_model(settings), ChatConfig.from_settings(settings))
            for n in range(turns):
                user = f"U{n % users}"
                text = "I'm Ada from Lisbon" if n % 2 == 0 else "What's my city?"
                _stamps.clear()
                _stamp("start")
                await send(user, text)
                _stamp("end")
                missing = [point for point, _ in POINTS if point not in _stamps]
                if missing:
                    raise RuntimeError(f"the path never reached {missing}: a wrapped name moved")
                for (point, _), (following, _) in zip(POINTS, POINTS[1:], strict=False):
                    segments[point].append(_stamps[following] - _stamps[point])
                totals.append(_stamps["end"] - _stamps["start"])
                started = time.perf_counter()
                await core.turn(UserKey.parse(f"slack:T:{user}"), text)
                alone.append(time.perf_counter() - started)
    medians = {point: statistics.median(values) * 1000 for point, values in segments.items()}
    medians["total"] = statistics.median(totals) * 1000
    medians["turn_alone"] = statistics.median(alone) * 1000
    return medians


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    medians = asyncio.run(measure(turns))
    print(f"{'from':12} {'ms p50':>7}  whose code")
    for point, owner in POINTS[:-1]:
        print(f"{point:12} {medians[point]:7.3f}  {owner}")
    print(f"{'total':12} {medians['total']:7.3f}  the whole path")
    print(f"{'turn alone':12} {medians['turn_alone']:7.3f}  ChatService.turn, between the messages")


if __name__ == "__main__":
    main()
