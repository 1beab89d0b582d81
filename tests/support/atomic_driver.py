"""A process that runs turns back to back until it is killed (used by test_atomic_turns)."""

from __future__ import annotations

import asyncio
import sys
from multiprocessing.connection import Connection

from chat_support import make_service

from bot.core.domain import UserKey


def run_turns(db_path: str, worker: int, ready: Connection) -> None:
    from agents import set_tracing_disabled

    from bot.memory import SqlMemoryStore

    set_tracing_disabled(True)

    async def main() -> None:
        async with SqlMemoryStore(db_path) as store:
            service = make_service(store)
            n = 0
            while True:
                users = [UserKey("console", f"w{worker}u{(n + k) % 5}") for k in range(3)]
                texts = [
                    f"My name is Ann{'abcdefghij'[n % 10]} and I live in Lisbon",
                    "What's my city?",
                    "hello there",
                ]
                results = await asyncio.gather(
                    *(service.turn(user, text) for user, text in zip(users, texts, strict=True))
                )
                if not all(r.ok for r in results):
                    print("turn failed", file=sys.stderr)
                    sys.exit(3)
                if n == 0:
                    ready.send("ready")
                n += 1

    asyncio.run(main())
