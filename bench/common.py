"""What every part of `make bench` shares: sizes, the scripted model, seeding, timing helpers.

Everything here uses the bot's stable public API and the SDK's public API only, so the bench
keeps measuring the same work when the store underneath is rewritten.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from agents import Model, ModelResponse, SQLiteSession, TResponseInputItem, Usage
from agents.testing import assistant_message, function_call

from bot.core.commands import HISTORY_PAGE_TURNS
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is. `BENCH_QUICK=1` shrinks everything for a smoke run;
    `BENCH_<FIELD>=value` overrides one size (e.g. `BENCH_SAMPLES=600`)."""

    samples: int = 400  # per side, for each alternating A/B ratio
    warmup: int = 20  # per side, before any ratio sample
    users: int = 40  # distinct users per side in the ratio runs
    window: int = 10  # HISTORY_WINDOW, in user turns (4 items each here)
    throughput_users: int = 2000
    throughput_turns: int = 5
    throughput_rounds: int = 4  # alternating rounds per side
    concurrency_users: int = 200
    concurrency_latency_s: float = 0.5
    lag_users: int = 200
    lag_turns: int = 5
    stall_items: int = 20_000
    stall_samples: int = 12  # per kind (alone, during export, during forget)
    limiter_users: int = 50_000
    many_users: int = 10_000
    history_small: int = 100
    history_large: int = 10_000
    history_samples: int = 500
    deep_items: int = 100_000
    deep_samples: int = 300
    window_turns: int = 500
    durability_turns: int = 20
    pg_throughput_users: int = 1000
    search_rows: int = 1_000_000  # history rows in the search-at-scale file
    search_person: int = 100_000  # of them, the searching person's
    search_queries: int = 300

    @classmethod
    def from_env(cls) -> Sizes:
        quick = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
        values: dict[str, Any] = dict(QUICK) if quick else {}
        for f in fields(cls):
            raw = os.environ.get(f"BENCH_{f.name.upper()}")
            if raw:
                values[f.name] = float(raw) if f.type == "float" else int(raw)
        return cls(**values)

    @property
    def ratio_users(self) -> int:
        """Users per side in the ratio runs: at least `users`, and enough that none of them
        sends more than 15 of their turns (well under the shipped 20 a minute) in a run."""
        return max(self.users, math.ceil((self.samples + self.warmup) / 15))

    @property
    def per_page(self) -> int:
        """Whole turns a `!history` page holds (as shipped)."""
        return HISTORY_PAGE_TURNS

    @property
    def deep_page(self) -> int:
        """The deepest full page at `deep_items` items of 4-item turns (page 8,333 of 3
        turns at 100k items)."""
        return self.deep_items // 4 // self.per_page


QUICK: dict[str, Any] = {
    "samples": 12,
    "warmup": 3,
    "users": 4,
    "throughput_users": 40,
    "throughput_turns": 2,
    "throughput_rounds": 2,
    "concurrency_users": 40,
    "concurrency_latency_s": 0.05,
    "lag_users": 20,
    "lag_turns": 2,
    "stall_items": 400,
    "stall_samples": 2,
    "limiter_users": 2000,
    "many_users": 100,
    "history_large": 1000,
    "history_samples": 20,
    "deep_items": 2000,
    "deep_samples": 10,
    "window_turns": 20,
    "durability_turns": 4,
    "pg_throughput_users": 40,
    "search_rows": 20_000,
    "search_person": 5_000,
    "search_queries": 30,
}


# --- the scripted model -----------------------------------------------------------------------


class ToolTurnModel(Model):
    """A scripted model for any number of users at once: for a new user message it calls
    `read_facts`; once the tool's output is in, it answers "answer to <message>".

    It decides from its input alone, so concurrent users never take each other's steps (a
    ScriptedModel's list is consumed in call order). `latency_s` is awaited on every call;
    `tool_call=False` answers at once (one model call per turn).
    """

    def __init__(self, latency_s: float = 0.0, *, tool_call: bool = True) -> None:
        self.latency_s = latency_s
        self.tool_call = tool_call
        self.calls = 0

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        self.calls += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        items = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        question = next(
            (str(i.get("content")) for i in reversed(items) if i.get("role") == "user"), ""
        )
        last = items[-1] if items else {}
        if self.tool_call and last.get("type") != "function_call_output":
            output = [function_call("read_facts", {}, call_id=f"call_{self.calls}")]
        else:
            output = [assistant_message(f"answer to {question}")]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        # The bench describes the offline model in its settings, so nothing streams.
        raise NotImplementedError("the bench model does not stream")


# --- settings and seeding ---------------------------------------------------------------------


def bench_settings(db: Path, **overrides: Any) -> Settings:
    """The shipped defaults, on `db`, with no `.env` or environment leaking in."""
    values: dict[str, Any] = {
        "memory_db_path": db,
        "bot_model": "offline",  # describes an offline model: no streaming, no client
        "chat_channel_ids": "*",
        "database_url": None,  # SQLite unless the caller passes a URL
    }
    values.update(overrides)
    return Settings(env_file=None, **values)


def turn_items(n: int, text: str | None = None) -> list[TResponseInputItem]:
    """The four items one tool turn stores: question, tool call, its output, the answer."""
    question = text or f"seeded question {n}"
    return [
        {"role": "user", "content": question},
        {
            "type": "function_call",
            "call_id": f"seed_{n}",
            "name": "read_facts",
            "arguments": "{}",
        },
        {
            "type": "function_call_output",
            "call_id": f"seed_{n}",
            "output": '{"name": null, "city": null}',
        },
        {"role": "assistant", "type": "message", "content": f"answer to {question}"},
    ]


def history_items(count: int) -> list[TResponseInputItem]:
    """`count` items of whole tool turns (count is rounded down to a multiple of 4)."""
    items: list[TResponseInputItem] = []
    for n in range(count // 4):
        items += turn_items(n)
    return items


async def seed_sqlite(db: Path, user_keys: Sequence[str], items: int) -> None:
    """Store `items` history items for each user through the SDK's own public
    `SQLiteSession.add_items`, the way any SDK program would have written them."""
    batch = history_items(items)
    for key in user_keys:
        session = SQLiteSession(key, db)
        try:
            for start in range(0, len(batch), 20_000):
                await session.add_items(batch[start : start + 20_000])
        finally:
            session.close()


# --- timing -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of one distribution."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summary(prefix: str, times: Sequence[float]) -> dict[str, Any]:
    """p50 and p99 of one side's own distribution, with its run count."""
    return {
        f"{prefix}_ms_p50": ms(statistics.median(times)),
        f"{prefix}_ms_p99": ms(percentile(times, 99)),
        f"{prefix}_runs": len(times),
    }


Step = Callable[[int], Awaitable[object]]


async def alternate(sides: Sequence[Step], samples: int, warmup: int) -> list[list[float]]:
    """Time `samples` calls of each side, interleaved: sample i runs every side once, in an
    order that rotates with i, so drift on a shared machine and any first/second position
    effect fall on every side alike. Returns each side's times in seconds."""
    for i in range(warmup):
        for side in sides:
            await side(i)
    times: list[list[float]] = [[] for _ in sides]
    count = len(sides)
    for i in range(samples):
        for k in range(count):
            index = (i + k) % count if i % 2 == 0 else (i - k) % count
            started = time.perf_counter()
            await sides[index](warmup + i)
            times[index].append(time.perf_counter() - started)
    return times


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median ÷ median, each side's own distribution."""
    return round(statistics.median(numerator) / statistics.median(denominator), 3)


# --- where the files live ---------------------------------------------------------------------


def file_system(path: Path) -> str:
    """The file system holding `path`, from /proc/mounts: type, device and mount point."""
    target = os.path.realpath(path)
    best: tuple[str, str, str] | None = None
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown (no /proc/mounts)"
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount, kind = parts[0], parts[1].replace("\\040", " "), parts[2]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and (best is None or len(mount) > len(best[1])):
            best = (device, mount, kind)
    if best is None:
        return "unknown"
    device, mount, kind = best
    return f"{kind} ({device} on {mount})"


def wal_commits(db: Path) -> tuple[bytes, int] | None:
    """(salt, commit frames) of `db`'s write-ahead log: every commit in WAL mode appends
    frames, the last marked with the database size. Frames of an older WAL generation carry
    another salt and end the count. None when the file has no WAL."""
    try:
        data = Path(f"{db}-wal").read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < 32:
        return b"", 0
    page_size = int.from_bytes(data[8:12], "big")
    salt = data[16:24]
    commits, offset = 0, 32
    while offset + 24 + page_size <= len(data):
        header = data[offset : offset + 24]
        if header[8:16] != salt:
            break
        commits += int.from_bytes(header[4:8], "big") != 0
        offset += 24 + page_size
    return salt, commits
