"""Several bot processes sharing one PostgreSQL database (PostgreSQL only).

Each process is a real OS process running tests/pg_driver.py: its own store, engine and pool,
the real ChatService. The test starts them together and reads the database afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from chat_support import set_facts
from pg_driver import check_turns, user_city, user_key, user_name
from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)
from sqlalchemy import text

from bot.core.domain import UserKey
from bot.memory import SqlMemoryStore
from bot.memory.backends import async_url

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

U = UserKey.parse("u")

DRIVER = Path(__file__).resolve().parents[1] / "support" / "pg_driver.py"
REPO = DRIVER.parent.parent
POOL_SIZE, MAX_OVERFLOW = 5, 5
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 180


async def run_processes(
    url: str, runs: list[list[str]], *, sample: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Start one driver per argument list, release them at once, and wait for their figures.
    Returns each process's figures and the most server connections seen on the database
    while they ran (the drivers' own)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(DRIVER),
            url,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        for args in runs
    ]
    stop = asyncio.Event()
    peak = 0

    async def sample_connections() -> None:
        nonlocal peak
        database = async_url(url).database
        # Counted by name: the server's own workers (autovacuum) and the observer's
        # connections also appear in pg_stat_activity for the database.
        async with (
            SqlMemoryStore(url, application_name="observer") as observer,
            observer.engine.connect() as conn,
        ):
            while not stop.is_set():
                result = await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = :db AND application_name = 'memory-chat-bot'"
                    ),
                    {"db": database},
                )
                peak = max(peak, result.scalar_one())
                await asyncio.sleep(0.01)

    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
            if line != b"ready\n":
                _, err = await process.communicate()
                raise AssertionError(f"driver did not start: {line!r}\n{err.decode()}")
        sampler = asyncio.create_task(sample_connections()) if sample else None
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in processes)), RUN_TIMEOUT_S
        )
        stop.set()
        if sampler is not None:
            await sampler
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    figures = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
        figures.append(json.loads(out.decode().splitlines()[-1]))
    return figures, peak


async def test_two_processes_take_turns_for_the_same_user(pg_url: str) -> None:  # noqa: F811
    user, turns = "discord:42", 20
    figures, _ = await run_processes(
        pg_url,
        [["same-user", "--user", user, "--turns", str(turns), "--tag", tag] for tag in ("A", "B")],
    )
    assert [f["errors"] for f in figures] == [0, 0]
    assert [f["ok"] for f in figures] == [turns, turns]

    async with SqlMemoryStore(pg_url) as store:
        items = await store.all_items(user)
    stored = check_turns(items)
    assert len(stored) == 2 * turns, "a turn was lost"
    for position, turn in enumerate(stored, start=1):
        # user message, read_facts call, its output, the reply: strict alternation.
        assert [i.get("type", "message") for i in turn] == [
            "message",
            "function_call",
            "function_call_output",
            "message",
        ]
        # Each turn saw every earlier one: the turns never overlapped across processes.
        reply = turn[-1]["content"][0]["text"]
        assert reply.endswith(f": seen {position}"), (position, reply)
    for tag in ("A", "B"):
        # Each process's messages are stored in the order it sent them, none missing.
        sent = [t[0]["content"] for t in stored if t[0]["content"].startswith(tag)]
        assert sent == [f"{tag} message {n}" for n in range(turns)]
    switches = sum(
        1
        for a, b in zip(stored, stored[1:], strict=False)
        if a[0]["content"][0] != b[0]["content"][0]
    )
    seconds = max(f["seconds"] for f in figures)
    print(
        f"\nsame user, 2 processes: {2 * turns} turns stored in {seconds:.2f}s "
        f"({2 * turns / seconds:.1f} turns/s), errors 0, {switches} switches between processes"
    )


async def test_two_hundred_users_across_two_processes(pg_url: str) -> None:  # noqa: F811
    users = 200
    figures, peak = await run_processes(
        pg_url,
        [
            [
                "many-users",
                *("--first", str(first), "--count", str(users // 2), "--step", "2"),
                *("--pool-size", str(POOL_SIZE), "--max-overflow", str(MAX_OVERFLOW)),
            ]
            for first in (0, 1)
        ],
        sample=True,
    )
    errors = sum(f["errors"] for f in figures)
    ok = sum(f["ok"] for f in figures)
    seconds = max(f["seconds"] for f in figures)
    print(
        f"\n{users} users, 2 processes: {ok} turns in {seconds:.2f}s ({ok / seconds:.1f} turns/s),"
        f" errors {errors}, max server connections {peak} (limit {2 * (POOL_SIZE + MAX_OVERFLOW)})"
    )
    assert errors == 0
    assert ok == 2 * users
    # Both pools were in use, and together never exceeded their bound.
    assert 2 <= peak <= 2 * (POOL_SIZE + MAX_OVERFLOW)

    async with SqlMemoryStore(pg_url) as store:
        async with store.engine.connect() as conn:
            sessions = await conn.execute(text("SELECT count(*) FROM agent_sessions"))
            assert sessions.scalar_one() == users
        for n in range(users):
            assert (await store.memory(user_key(n))).facts() == {
                "name": user_name(n),
                "city": user_city(n),
            }
            stored = check_turns(await store.all_items(user_key(n)))
            assert [t[0]["content"] for t in stored] == [
                f"My name is {user_name(n)} and I live in {user_city(n)}",
                "What's my city?",
            ]


async def test_migrations_from_several_processes_at_once(pg_url: str) -> None:  # noqa: F811
    figures, _ = await run_processes(pg_url, [["migrate"] for _ in range(4)])
    assert len(figures) == 4
    async with SqlMemoryStore(pg_url) as store:
        await store.commit_turn(U, [{"role": "user", "content": "hi"}], set_facts(name="Ada"))
        assert (await store.memory(U)).facts() == {"name": "Ada"}
