"""Per-turn cost ratios, each side measured alternately in the same run on the same disk.

- `noise_ratio`: the bare SDK against a second copy of itself: what a ratio of "no
  difference" looks like on this machine.
- `core_overhead_ratio`: `ChatService.turn` ÷ the bare SDK's `Runner.run` with a reused
  `SQLiteSession` per user (made before timing), the same scripted model and the same window
  (`SessionSettings(limit=window × 4 items)` ↔ `HISTORY_WINDOW=window` user turns of 4 items).
  The bot side does everything a shipped turn does: settings, admission, usage recorded in
  the commit, metrics.
- `<front end>_overhead_ratio`: a message through a whole front end ÷ `ChatService.turn` on
  the very service that front end drives: the front end's cost alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import RunConfig, Runner, SQLiteSession
from agents.memory import SessionSettings
from common import Sizes, ToolTurnModel, alternate, bench_settings, ratio, seed_sqlite, summary

from bot.core.agent import build_agent
from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.core.tools import UserContext
from bot.memory import open_store
from bot.ops.metrics import Metrics

Step = Callable[[int], Awaitable[object]]


class WrongAnswer(AssertionError):
    """A measured turn did not produce the scripted answer: the figure would be meaningless."""


def check(reply: str, text: str) -> None:
    if reply.strip() != f"answer to {text}":
        raise WrongAnswer(f"expected the answer to {text!r}, got {reply[:80]!r}")


@contextlib.asynccontextmanager
async def core_sides(
    work: Path, users: int, window: int
) -> AsyncIterator[tuple[dict[str, Step], dict[str, Path]]]:
    """Three ready sides over three files in `work`: "bare", "bare_again" (the SDK alone) and
    "bot" (`ChatService.turn`, shipped defaults). Every user starts with a full window of
    history, written by the SDK's own `add_items`, so each side reads the same amount."""
    keys = [f"bench:{n}" for n in range(users)]
    files = {name: work / f"core-{name}.db" for name in ("bare", "bare_again", "bot")}
    for db in files.values():
        await seed_sqlite(db, keys, window * 4)
    model = ToolTurnModel()
    agent = build_agent(model)
    run_config = RunConfig(tracing_disabled=True)
    sides: dict[str, Step] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in ("bare", "bare_again"):
            # The tools read facts through a store on the same file, as the bot's do.
            facts = await stack.enter_async_context(open_store(bench_settings(files[name])))
            sessions = {
                key: SQLiteSession(key, files[name], session_settings=SessionSettings(window * 4))
                for key in keys
            }
            for session in sessions.values():
                stack.callback(session.close)

            async def bare(i: int, sessions: Any = sessions, facts: Any = facts) -> None:
                key = keys[i % users]
                text = f"question {i}"
                result = await Runner.run(
                    agent,
                    text,
                    session=sessions[key],
                    context=UserContext(UserKey.parse(key), facts),
                    run_config=run_config,
                )
                check(str(result.final_output), text)

            sides[name] = bare
        settings = bench_settings(files["bot"], history_window=window)
        store = await stack.enter_async_context(open_store(settings))
        # As the wiring builds it: counting into the Prometheus metrics (METRICS_PORT only
        # decides whether they are served), the community settings, usage and limits on.
        metrics = Metrics()
        service = ChatService(store, model, ChatConfig.from_settings(settings), observer=metrics)
        metrics.watch(service)

        async def bot(i: int) -> None:
            text = f"question {i}"
            result = await service.turn(UserKey.parse(keys[i % users]), text)
            check(result.reply, text)

        sides["bot"] = bot
        yield sides, files


async def measure_core(work: Path, sizes: Sizes) -> dict[str, Any]:
    """noise_ratio and core_overhead_ratio from one alternating run of three sides."""
    async with core_sides(work, sizes.ratio_users, sizes.window) as (sides, _files):
        bare, bare_again, bot = await alternate(
            [sides["bare"], sides["bare_again"], sides["bot"]], sizes.samples, sizes.warmup
        )
    return {
        "noise_ratio": ratio(bare_again, bare),
        "core_overhead_ratio": ratio(bot, bare),
        **summary("bare_sdk_turn", bare),
        **summary("bare_sdk_again_turn", bare_again),
        **summary("core_turn", bot),
    }


# --- front ends -------------------------------------------------------------------------------


@dataclass
class FrontEndPath:
    """A front end wired for the bench (the hook another front end plugs into).

    `send(i, text)` delivers `text` from the front end's user number `i` and returns once the
    reply has gone out (raising if it was not the answer to `text`); `service` is the
    ChatService that front end drives; `sender_key(i)` is user i's key in it and
    `baseline_key(i)` another user of the same kind, for the `service.turn` baseline; `db` is
    the SQLite file under it (both users get the same seeded history there)."""

    send: Callable[[int, str], Awaitable[None]]
    service: ChatService
    sender_key: Callable[[int], str]
    baseline_key: Callable[[int], str]
    db: Path | None = None


def question(i: int) -> str:
    return f"question {i}"


async def measure_send(
    name: str,
    send: Callable[[int, str], Awaitable[None]],
    turn: Callable[[int, str], Awaitable[None]],
    sizes: Sizes,
    text: Callable[[int], str] = question,
) -> dict[str, Any]:
    """`<name>_overhead_ratio`: `send(user, text)` through a front end ÷ `turn(user, text)`
    straight into ChatService, alternating per sample (the hook any front end plugs into)."""
    users = sizes.ratio_users

    async def front(i: int) -> None:
        await send(i % users, text(i))

    async def core(i: int) -> None:
        await turn(i % users, text(i))

    front_times, core_times = await alternate([front, core], sizes.samples, sizes.warmup)
    return {
        f"{name}_overhead_ratio": ratio(front_times, core_times),
        **summary(f"{name}_turn", front_times),
        **summary(f"{name}_core_turn", core_times),
    }


async def measure_frontend(name: str, path: FrontEndPath, sizes: Sizes) -> dict[str, Any]:
    """Seed both kinds of user alike, then `measure_send` against `path.service.turn`."""
    if path.db is not None:
        keys = [path.sender_key(i) for i in range(sizes.ratio_users)]
        keys += [path.baseline_key(i) for i in range(sizes.ratio_users)]
        await seed_sqlite(path.db, sorted(set(keys)), sizes.window * 4)

    async def turn(i: int, text: str) -> None:
        result = await path.service.turn(UserKey.parse(path.baseline_key(i)), text)
        check(result.reply, text)

    return await measure_send(name, path.send, turn, sizes)
