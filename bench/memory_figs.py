"""What the memory looks like at scale: descriptors and RSS after many users, `!history`
latency at any size and depth, the model's input at turn 500, and PostgreSQL beside SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents import Model
from common import ROOT, Sizes, alternate, bench_settings, ratio, seed_sqlite, summary

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.memory import open_store
from bot.models import offline_model
from bot.settings import Settings

W = UserKey.parse("w")


def many_users(work: Path, sizes: Sizes) -> dict[str, Any]:
    """fds and peak RSS after `many_users` users, each one turn, in a fresh process with the
    shipped defaults (rate limiter on)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "many_users.py"), str(work / "many.db")]
        + [str(sizes.many_users)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"many_users.py failed: {proc.stderr.strip()[-2000:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "fds_after_10000_users": found["fds"],
        "rss_mb_after_10000_users": round(found["rss_mb"], 1),
        "errors_10000_users": found["errors"],
        "many_users": sizes.many_users,
    }


async def _page_ratio(
    settings: Settings, seed: Any, sizes: Sizes, small: tuple[str, int], large: tuple[str, int]
) -> tuple[list[float], list[float]]:
    """Alternating `history_view` timings of two (user, page) pairs on one store."""
    async with open_store(settings) as store:
        await seed(store)
        service = ChatService(store, offline_model(), ChatConfig.from_settings(settings))

        def viewer(user: str, page: int) -> Any:
            async def view(i: int) -> None:
                shown = (await service.commands.history_view(UserKey.parse(user), page)).page
                if not shown.items:
                    raise AssertionError(f"page {page} of {user} is empty")

            return view

        times = await alternate(
            [viewer(*small), viewer(*large)], sizes.history_samples, sizes.warmup
        )
    return times[0], times[1]


async def _seed_sdk_sqlite(db: Path, users: Sequence[tuple[str, int]]) -> None:
    for user, items in users:
        await seed_sqlite(db, [user], items)


async def measure_history(work: Path, sizes: Sizes) -> dict[str, Any]:
    """`!history` page 1 at a small and a large history, alternating."""
    db = work / "history.db"
    settings = bench_settings(db)
    small, large = sizes.history_small, sizes.history_large

    async def seed(store: object) -> None:
        await _seed_sdk_sqlite(db, [("h:small", small), ("h:large", large)])

    at_small, at_large = await _page_ratio(settings, seed, sizes, ("h:small", 1), ("h:large", 1))
    return {
        **summary("history_at_100", at_small),
        **summary("history_at_10000", at_large),
        "history_ratio_10000_vs_100": ratio(at_large, at_small),
        "history_sizes": [small, large],
    }


async def measure_deep_page(work: Path, sizes: Sizes) -> dict[str, Any]:
    """history_deep_page_ratio: page 8,333 (the deepest) ÷ page 1 of a 100k-item history
    (25,000 turns, 3 to a page; SQLite)."""
    db = work / "deep.db"
    settings = bench_settings(db)

    async def seed(store: object) -> None:
        await _seed_sdk_sqlite(db, [("deep", sizes.deep_items)])

    first, deep = await _page_ratio(settings, seed, sizes, ("deep", 1), ("deep", sizes.deep_page))
    return {
        "history_deep_page_ratio": ratio(deep, first),
        **summary("history_page_1", first),
        **summary("history_deep_page", deep),
        "history_deep_page": sizes.deep_page,
        "history_deep_items": sizes.deep_items,
    }


class CountingModel(Model):
    """Another model, recording how many input items each call received."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.input_sizes: list[int] = []

    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kw: Any):
        self.input_sizes.append(len(input) if isinstance(input, list) else 1)
        return await self.inner.get_response(system_instructions, input, *args, **kw)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.stream_response(*args, **kwargs)


async def measure_window(work: Path, sizes: Sizes) -> dict[str, Any]:
    """The model's input at turn 500 with HISTORY_WINDOW=10 (the offline model, real tools;
    the rate limit is off: one user sends all 500 turns as fast as they run)."""
    settings = bench_settings(
        work / "window.db", history_window=sizes.window, rate_limit_per_minute=0
    )
    model = CountingModel(offline_model())
    async with open_store(settings) as store:
        service = ChatService(store, model, ChatConfig.from_settings(settings))
        await service.turn(W, "My name is Ada and I live in Lisbon")
        for n in range(sizes.window_turns - 2):
            await service.turn(W, f"tell me something {n}")
        before = len(model.input_sizes)
        final = await service.turn(W, "What do you know about me?")
    return {
        "model_input_items_at_turn_500": max(model.input_sizes[before:]),
        "recalled_at_turn_500": "Ada" in final.reply and "Lisbon" in final.reply,
        "window_turns": sizes.window_turns,
    }
