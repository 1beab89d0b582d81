"""Turns are stored all or nothing, even when the process is killed at any moment."""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import sys
import time
from pathlib import Path

from atomic_driver import run_turns

from bot.core.domain import is_user_message

KILLS = 50


def complete_turns(items: list[dict]) -> bool:
    """Every turn starts with the user's message, ends with a reply, and has every tool call
    answered by its output."""
    if not items:
        return True
    starts = [i for i, item in enumerate(items) if is_user_message(item)]
    if not starts or starts[0] != 0:
        return False
    for begin, end in zip(starts, [*starts[1:], len(items)], strict=True):
        turn = items[begin:end]
        last = turn[-1]
        if not (last.get("role") == "assistant" and last.get("type", "message") == "message"):
            return False
        calls = {i["call_id"] for i in turn if i.get("type") == "function_call"}
        outputs = {i["call_id"] for i in turn if i.get("type") == "function_call_output"}
        if calls != outputs:
            return False
    return True


def check_database(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        sessions = [
            row[0] for row in conn.execute("SELECT DISTINCT session_id FROM agent_messages")
        ]
        for session in sessions:
            rows = conn.execute(
                "SELECT message_data FROM agent_messages WHERE session_id = ? ORDER BY id",
                (session,),
            ).fetchall()
            items = [json.loads(data) for (data,) in rows]
            assert complete_turns(items), f"incomplete turn stored for {session}"
        (count,) = conn.execute("SELECT COUNT(*) FROM agent_messages").fetchone()
    return count


def test_sigkill_at_random_moments_never_leaves_a_partial_turn(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    context = multiprocessing.get_context("forkserver")
    # The server imports the SDK once; each killed worker is a cheap fork of it.
    context.set_forkserver_preload(["bot.core.chat", "bot.memory", "bot.offline.model"])
    rng = random.Random(20261124)
    stored_before = 0
    for kill in range(KILLS):
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(target=run_turns, args=(str(db), kill, send), daemon=True)
        worker.start()
        # "Ready" means this start opened the file and stored a full round of turns.
        assert receive.poll(60), f"worker {kill} did not start on the file left by the last kill"
        assert receive.recv() == "ready"
        time.sleep(rng.uniform(0, 0.15))
        worker.kill()
        worker.join(10)
        assert worker.exitcode == -9, f"worker {kill} ended on its own: {worker.exitcode}"
        stored = check_database(db)
        assert stored > stored_before
        stored_before = stored


def test_the_checker_rejects_partial_turns() -> None:
    user = {"role": "user", "content": "hi"}
    call = {"type": "function_call", "call_id": "c1", "name": "read_facts", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "{}"}
    reply = {"type": "message", "role": "assistant", "content": []}
    assert complete_turns([user, call, output, reply])
    assert not complete_turns([user])
    assert not complete_turns([user, call, reply])
    assert not complete_turns([user, call, output])
    assert not complete_turns([reply])


if __name__ == "__main__":
    sys.exit("run with pytest")
