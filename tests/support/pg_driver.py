"""One bot process on a shared PostgreSQL database (driven by test_pg_processes).

    python tests/pg_driver.py URL same-user --user KEY --turns N --tag A
    python tests/pg_driver.py URL many-users --first I --count N --step S
    python tests/pg_driver.py URL migrate

The process opens the store, prints "ready", waits for a line on stdin (so the test can start
every process at the same moment), runs its work through the real `ChatService`, and prints
one JSON line of figures: turns ok, errors, seconds.

same-user: N turns, one after another, for one user. The model (a `ScriptedModel` whose
responder sleeps a few ms) calls read_facts, then answers "<tag> <n>: seen <k>", where k is the
number of user messages in the history it was given. If turns of two processes overlapped, two
replies would report the same k.

many-users: users I, I+S, I+2S, ... (N of them) at once, each saying their name and city and
then asking for the city (the offline model); a wrong answer counts as an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chat_support import make_service

from bot.core.domain import UserKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CITIES = ("Lisbon", "Porto", "Braga", "Faro", "Evora", "Coimbra", "Aveiro", "Viseu")


def user_name(n: int) -> str:
    """A distinct name the offline model accepts (letters only): 0 -> Anna, 27 -> Annbb."""
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[digit] + letters
        if n == 0:
            break
    return "Ann" + letters


def user_key(n: int) -> UserKey:
    return UserKey("console", f"user{n}")


def user_city(n: int) -> str:
    return CITIES[n % len(CITIES)]


def check_turns(items: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split history into turns, asserting each is whole: a user message, then any tool calls
    each answered by its output, then one assistant message, and nothing else."""
    turns: list[list[dict[str, Any]]] = []
    for item in items:
        if item.get("role") == "user":
            turns.append([item])
        else:
            assert turns, f"history starts with a non-user item: {item}"
            turns[-1].append(item)
    for turn in turns:
        kinds = [i.get("type", "message") for i in turn]
        assert kinds[-1] == "message" and turn[-1].get("role") == "assistant", kinds
        assert "message" not in kinds[1:-1], f"user/assistant do not alternate: {kinds}"
        calls = [i["call_id"] for i in turn if i.get("type") == "function_call"]
        outputs = [i["call_id"] for i in turn if i.get("type") == "function_call_output"]
        assert calls == outputs, f"unanswered tool call in a turn: {kinds}"
    return turns


def counting_model(turns: int, tag: str) -> Any:
    """A ScriptedModel for `turns` turns: read_facts, then a reply saying what it saw."""
    from agents.testing import ScriptedModel, assistant_message, function_call

    calls = 0

    async def respond(call: Any) -> Any:
        nonlocal calls
        await asyncio.sleep(random.uniform(0.002, 0.008))
        items = call.input if isinstance(call.input, list) else []
        seen = sum(1 for i in items if i.get("role") == "user")
        if items and items[-1].get("type") == "function_call_output":
            return [assistant_message(f"{tag} {calls}: seen {seen}")]
        calls += 1
        return [function_call("read_facts", {}, call_id=f"{tag}-{calls}")]

    return ScriptedModel([{"responder": respond}] * (turns * 2))


async def same_user(service: Any, user: str, turns: int, tag: str) -> tuple[int, int]:
    ok = errors = 0
    for n in range(turns):
        result = await service.turn(user, f"{tag} message {n}")
        if result.ok:
            ok += 1
        else:
            errors += 1
            print(f"turn failed: {result.failure}", file=sys.stderr)
    return ok, errors


async def many_users(service: Any, users: Sequence[int]) -> tuple[int, int]:
    async def one(n: int) -> tuple[int, int]:
        key, errors = user_key(n), 0
        said = await service.turn(key, f"My name is {user_name(n)} and I live in {user_city(n)}")
        asked = await service.turn(key, "What's my city?")
        for result in (said, asked):
            if not result.ok:
                errors += 1
                print(f"turn failed for {key}: {result.failure}", file=sys.stderr)
        if asked.ok and asked.reply != f"Your city is {user_city(n)}.":
            errors += 1
            print(f"wrong answer for {key}: {asked.reply!r}", file=sys.stderr)
        return 2 - errors, errors

    results = await asyncio.gather(*(one(n) for n in users))
    return sum(r[0] for r in results), sum(r[1] for r in results)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("mode", choices=("same-user", "many-users", "migrate"))
    parser.add_argument("--user", default="console:shared")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--tag", default="A")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=5)
    parser.add_argument("--max-overflow", type=int, default=5)
    args = parser.parse_args(argv)

    from agents import set_tracing_disabled

    from bot.memory import SqlMemoryStore

    set_tracing_disabled(True)
    store = SqlMemoryStore(args.url, pool_size=args.pool_size, max_overflow=args.max_overflow)
    try:
        if args.mode != "migrate":
            await store.migrate()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started = time.perf_counter()
        ok = errors = 0
        if args.mode == "migrate":
            await store.migrate()
        elif args.mode == "same-user":
            model = counting_model(args.turns, args.tag)
            service = make_service(store, model, history_window=10 * args.turns)
            ok, errors = await same_user(service, UserKey.parse(args.user), args.turns, args.tag)
            model.assert_complete()
        else:
            service = make_service(store, max_queued_per_user=args.count)
            users = range(args.first, args.first + args.count * args.step, args.step)
            ok, errors = await many_users(service, users)
        elapsed = time.perf_counter() - started
        print(json.dumps({"ok": ok, "errors": errors, "seconds": elapsed}), flush=True)
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
