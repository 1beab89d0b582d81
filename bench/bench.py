"""`make bench`: the bot's figures, each measured in the same run as its baseline.

Prints a table and writes the same figures to bench/results.json. Not part of `make test`:
these are measurements, not pass/fail checks (the goals are printed beside each figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import discord.ext.test as dpytest  # noqa: E402
from agents import Runner, SQLiteSession, set_tracing_disabled  # noqa: E402
from agents.testing import (  # noqa: E402
    ModelCall,
    ModelStep,
    ScriptedModel,
    assistant_message,
    function_call,
)

from bot.core.agent import (  # noqa: E402
    UserContext,
    build_agent,
    offline_model,  # noqa: E402
)
from bot.core.chat import ChatService  # noqa: E402
from bot.frontends.discord.bot import create_bot  # noqa: E402
from bot.memory import SqlMemoryStore  # noqa: E402
from bot.offline.model import OfflineModel  # noqa: E402
from bot.settings import Settings  # noqa: E402

set_tracing_disabled(True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def tool_turn_steps(turns: int, n0: int = 0) -> list[Any]:
    """A zero-latency model making one tool call then answering, for `turns` turns."""
    steps: list[Any] = []
    for n in range(n0, n0 + turns):
        steps.append([function_call("read_facts", {}, call_id=f"call_{n}")])
        steps.append([assistant_message(f"answer {n}")])
    return steps


# --- overhead: the Discord path vs the bare SDK ----------------------------------------------


async def bare_sdk_turns(db: Path, turns: int, *, streamed: bool = False) -> list[float]:
    """Runner.run (or run_streamed) with a SQLiteSession on the file: what the SDK alone does
    for one turn."""
    model = ScriptedModel(tool_turn_steps(turns))
    agent = build_agent(model)
    async with SqlMemoryStore(db) as store:
        times = []
        for n in range(turns):
            started = time.perf_counter()
            session = SQLiteSession(f"bare:{n % 20}", db)
            context = UserContext("x", store)
            try:
                if streamed:
                    result = Runner.run_streamed(
                        agent, f"question {n}", session=session, context=context
                    )
                    async for _ in result.stream_events():
                        pass
                else:
                    await Runner.run(agent, f"question {n}", session=session, context=context)
            finally:
                session.close()
            times.append(time.perf_counter() - started)
    return times


async def discord_turns(db: Path, turns: int, *, streamed: bool = False) -> list[float]:
    """A message in through dpytest, the real bot and chat service, the reply out.

    Streaming is on for real models only; `streamed` makes the settings describe one (the
    scripted model still answers: nothing is contacted)."""
    real_model = {"openai_base_url": "http://127.0.0.1:9/v1"} if streamed else {}
    settings = Settings(
        memory_db_path=db,
        chat_channel_ids="*",
        env_file=None,
        rate_limit_per_minute=0,
        show_turn_embed=True,
        **real_model,
    )
    bot = create_bot(settings, model=ScriptedModel(tool_turn_steps(turns)))
    state = bot._connection
    state._intents.members = True
    state.member_cache_flags = discord_member_flags(state._intents)
    dpytest.configure(bot, guilds=1, text_channels=1, voice_channels=0, members=20)
    await bot._async_setup_hook()
    await bot.setup_hook()
    config = dpytest.get_config()
    channel = config.channels[0]
    members = config.members
    times = []
    try:
        for n in range(turns):
            started = time.perf_counter()
            await dpytest.message(f"question {n}", channel=channel, member=members[n % 20])
            times.append(time.perf_counter() - started)
            sent = []
            while not dpytest.sent_queue.empty():
                sent.append(dpytest.sent_queue.get_nowait().content)
            # The measured turn really ran: its answer is what the bot sent.
            assert f"answer {n}" in sent, sent
    finally:
        await dpytest.empty_queue()
        bot.ws = None
        await bot.close()
    return times


def discord_member_flags(intents: Any) -> Any:
    import discord

    return discord.MemberCacheFlags.from_intents(intents)


async def measure_overhead(work: Path, turns: int, rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for streamed, suffix in ((False, ""), (True, "_streamed")):
        bare: list[float] = []
        ours: list[float] = []
        # Interleaved rounds, so drift on a shared machine hits both sides alike.
        for r in range(rounds):
            bare += await bare_sdk_turns(work / f"bare{suffix}{r}.db", turns, streamed=streamed)
            ours += await discord_turns(work / f"discord{suffix}{r}.db", turns, streamed=streamed)
        bare_median = statistics.median(bare)
        ours_median = statistics.median(ours)
        overhead_ms = [(t - bare_median) * 1000 for t in ours]
        figures |= {
            f"bare_sdk_turn_ms_p50{suffix}": round(bare_median * 1000, 3),
            f"discord_turn_ms_p50{suffix}": round(ours_median * 1000, 3),
            f"overhead_ratio{suffix}": round(ours_median / bare_median, 3),
            f"overhead_ms_p50{suffix}": round(statistics.median(overhead_ms), 3),
            f"overhead_ms_p99{suffix}": round(percentile(overhead_ms, 99), 3),
        }
    return figures


# --- concurrency -------------------------------------------------------------------------------


async def measure_concurrency(work: Path, users: int, latency: float) -> dict[str, Any]:
    async with SqlMemoryStore(work / "concurrency.db") as store:
        # Single-turn CPU time with a zero-latency model, measured first.
        quick = ScriptedModel([[assistant_message("ok")] for _ in range(50)])
        service = ChatService(store, quick, max_concurrent_turns=users)
        cpu = []
        for n in range(50):
            started = time.process_time()
            await service.turn(f"cpu:{n}", "hello")
            cpu.append(time.process_time() - started)
        cpu_per_turn = statistics.median(cpu)

        async def slow(call: ModelCall) -> list[Any]:
            await asyncio.sleep(latency)
            return [assistant_message("ok")]

        model = ScriptedModel([ModelStep.respond(slow) for _ in range(users)])
        service = ChatService(store, model, max_concurrent_turns=users)
        started = time.perf_counter()
        results = await asyncio.gather(*(service.turn(f"c:{n}", "hello") for n in range(users)))
        wall = time.perf_counter() - started
    ideal = latency + users * cpu_per_turn
    return {
        "concurrency_users": users,
        "concurrency_wall_s": round(wall, 3),
        "concurrency_ideal_s": round(ideal, 3),
        "single_turn_cpu_ms": round(cpu_per_turn * 1000, 3),
        "concurrency_ratio": round(wall / ideal, 3),
        "concurrency_errors": sum(not r.ok for r in results),
    }


# --- descriptors and memory after many users (fresh processes) ----------------------------------

MANY_USERS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, resource, sys
    from agents import Runner, SQLiteSession, set_tracing_disabled
    from bot.core.agent import UserContext, build_agent
    from bot.core.chat import ChatService
    from bot.memory import SqlMemoryStore
    from bot.core.agent import offline_model
    set_tracing_disabled(True)
    db, users, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    def rss_mb():
        # Peak resident size; needs no file descriptor (the naive run may have none left).
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    async def main():
        errors = 0
        async with SqlMemoryStore(db) as store:
            if mode == "ours":
                service = ChatService(store, offline_model(), max_concurrent_turns=64)
                for start in range(0, users, 50):
                    results = await asyncio.gather(*(
                        service.turn(f"u:{n}", "My name is Ada and I live in Lisbon")
                        for n in range(start, min(users, start + 50))
                    ))
                    errors += sum(not r.ok for r in results)
            else:
                # The naive bot: one live SDK session per user, kept for reuse.
                agent = build_agent(offline_model())
                sessions = {}
                done = 0
                for start in range(0, users, 50):
                    async def one(n):
                        session = sessions.setdefault(n, SQLiteSession(f"u:{n}", db))
                        await Runner.run(agent, "My name is Ada and I live in Lisbon",
                                         session=session, context=UserContext(f"u:{n}", store))
                    try:
                        batch = range(start, min(users, start + 50))
                        await asyncio.gather(*(one(n) for n in batch))
                        done = batch.stop
                    except Exception as exc:
                        errors += 1
                        print(json.dumps({"failed_after_users": done, "error": repr(exc)[:120],
                                          "rss_mb": rss_mb(),
                                          "fds": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
                        return
            print(json.dumps({"fds": len(os.listdir("/proc/self/fd")), "rss_mb": rss_mb(),
                              "errors": errors}))

    asyncio.run(main())
    """
)


def many_users(work: Path, users: int, mode: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", MANY_USERS_SCRIPT, str(work / f"many-{mode}.db"), str(users), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- !history latency at 100 and 10,000 stored items --------------------------------------------


async def measure_history(work: Path, repeats: int) -> dict[str, Any]:
    sizes = (100, 10_000)
    times: dict[int, list[float]] = {size: [] for size in sizes}
    async with SqlMemoryStore(work / "history.db") as store:
        service = ChatService(store, offline_model())
        turn = [
            {"role": "user", "content": "what's my city?"},
            {"type": "function_call", "call_id": "c", "name": "read_facts", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": '{"city": "Lisbon"}'},
            {"role": "assistant", "type": "message", "content": "Your city is Lisbon."},
        ]
        for size in sizes:
            await store.commit_turn(f"h:{size}", turn * (size // 4), {"city": "Lisbon"})
        # Alternating sizes, so drift on a shared machine hits both alike.
        for _ in range(repeats):
            for size in sizes:
                started = time.perf_counter()
                await service.history(f"h:{size}", 1)
                times[size].append(time.perf_counter() - started)
    figures: dict[str, Any] = {}
    for size in sizes:
        figures[f"history_ms_p50_at_{size}"] = round(statistics.median(times[size]) * 1000, 3)
        figures[f"history_ms_p99_at_{size}"] = round(percentile(times[size], 99) * 1000, 3)
    figures["history_p99_ratio_10000_vs_100"] = round(
        figures["history_ms_p99_at_10000"] / figures["history_ms_p99_at_100"], 3
    )
    return figures


# --- the window at turn 500 ---------------------------------------------------------------------


class CountingModel(OfflineModel):
    """The offline model, recording how many input items each call received."""

    def __init__(self) -> None:
        super().__init__(offline_model().tools)
        self.input_sizes: list[int] = []

    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kw: Any):
        self.input_sizes.append(len(input) if isinstance(input, list) else 1)
        return await super().get_response(system_instructions, input, *args, **kw)


async def measure_window(work: Path, turns: int, window: int) -> dict[str, Any]:
    model = CountingModel()
    async with SqlMemoryStore(work / "window.db") as store:
        service = ChatService(store, model, history_window=window)
        await service.turn("w", "My name is Ada and I live in Lisbon")
        for n in range(turns - 2):
            await service.turn("w", f"tell me something {n}")
        before = len(model.input_sizes)
        final = await service.turn("w", "What do you know about me?")
        at_last_turn = max(model.input_sizes[before:])
    return {
        "history_window": window,
        "model_input_items_at_turn_500": at_last_turn,
        "recalled_at_turn_500": "Ada" in final.reply and "Lisbon" in final.reply,
    }


# --- the report --------------------------------------------------------------------------------

GOALS = {
    "overhead_ratio": "<= 1.2",
    "overhead_ratio_streamed": "<= 1.2",
    "concurrency_ratio": "<= 1.3",
    "fds_after_10000_users": "<= 64",
    "rss_mb_after_10000_users": "<= 200 (peak RSS)",
    "history_p99_ratio_10000_vs_100": "flat (~1)",
    "model_input_items_at_turn_500": "bounded",
    "recalled_at_turn_500": "yes",
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
    }
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as tmp:
        work = Path(tmp)
        print("overhead (Discord path vs bare SDK)...", file=sys.stderr)
        results.update(await measure_overhead(work, args.turns, args.rounds))
        print("concurrency...", file=sys.stderr)
        results.update(await measure_concurrency(work, args.users, args.latency))
        print(f"{args.many} users, ours and naive (fresh processes)...", file=sys.stderr)
        ours = many_users(work, args.many, "ours")
        naive = many_users(work, args.many, "naive")
        results["fds_after_10000_users"] = ours.get("fds")
        results["rss_mb_after_10000_users"] = round(ours.get("rss_mb") or 0, 1)
        results["errors_10000_users"] = ours.get("errors", ours.get("error"))
        # When the naive bot runs out of descriptors, its figure is the limit it hit.
        results["naive_fds_after_10000_users"] = naive.get("fds")
        results["naive_rss_mb_after_10000_users"] = round(naive.get("rss_mb") or 0, 1)
        results["naive_errors_10000_users"] = naive.get("errors", naive.get("error"))
        if "failed_after_users" in naive:
            results["naive_failed_after_users"] = naive["failed_after_users"]
        print("!history latency...", file=sys.stderr)
        results.update(await measure_history(work, args.history_repeats))
        print("history window at turn 500...", file=sys.stderr)
        results.update(await measure_window(work, 500, 10))
    results["many_users"] = args.many
    return results


def print_table(results: dict[str, Any]) -> None:
    print(f"machine: {results['machine']}; date: {results['date']}")
    width = max(len(k) for k in results)
    for key, value in results.items():
        if key in {"machine", "date"}:
            continue
        goal = GOALS.get(key, "")
        print(f"{key:<{width}}  {value!s:>12}  {('goal ' + goal) if goal else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100, help="turns per overhead round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved overhead rounds")
    parser.add_argument("--users", type=int, default=200, help="users in the concurrency run")
    parser.add_argument("--latency", type=float, default=0.5, help="model latency, seconds")
    parser.add_argument("--many", type=int, default=10_000, help="users for fds/rss")
    parser.add_argument("--history-repeats", type=int, default=1000)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print_table(results)
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
