"""Turns are stored all or nothing, even when the process is killed at any moment."""

from __future__ import annotations

import multiprocessing
import random
import sys
import time
from pathlib import Path

from atomic_driver import run_turns
from stored_turns import check_database, complete_turns

KILLS = 50


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
