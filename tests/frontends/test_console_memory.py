"""Memory items end to end through the console: a real `python -m bot console` process per
session, on the SQLite file and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from processes import bot_env, console
from sqlalchemy import func, select

from bot.memory import SqlMemoryStore
from bot.memory.schema import agent_messages, memory_items

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def chat(memory_target: str | Path, user: str, *lines: str) -> str:
    if isinstance(memory_target, Path):
        return console(*lines, user=user, db=memory_target).stdout
    return console(*lines, user=user, env=bot_env(DATABASE_URL=memory_target)).stdout


def row_counts(memory_target: str | Path) -> tuple[int, int]:
    async def count() -> tuple[int, int]:
        async with SqlMemoryStore(memory_target) as store, store.engine.connect() as conn:
            messages = await conn.scalar(select(func.count()).select_from(agent_messages))
            items = await conn.scalar(select(func.count()).select_from(memory_items))
        return messages, items

    return asyncio.run(count())


def test_remember_list_forget_one_and_prove_it_is_gone(memory_target: str | Path) -> None:
    told = chat(
        memory_target,
        "ada",
        "My name is Ada and I live in Lisbon",
        "remember that I'm vegetarian",
        "please remember my dog is called Rex",
    )
    assert "bot> Got it, I'll remember that (note 3). !forget 3 erases it." in told
    assert "  note 3: I'm vegetarian (new) · !forget 3 erases it" in told

    listed = chat(memory_target, "ada", "!memory")
    for line in ("#1 name: Ada", "#2 city: Lisbon", "#3 note: I'm vegetarian", "#4 note: my dog"):
        assert line in listed

    forgot = chat(memory_target, "ada", "!forget 3", "!memory", "What do you know about me?")
    assert "Done. I forgot note 3 (I'm vegetarian) and removed it from 3 stored" in forgot
    after = forgot.split("stored history items.", 1)[1]
    assert "vegetarian" not in after
    assert "#4 note: my dog is called Rex" in after
    assert "You asked me to remember: my dog is called Rex (note 4)." in after

    corrected = chat(memory_target, "ada", "I moved to Porto")
    assert "city: Porto (was Lisbon) · !forget city erases both" in corrected
    other = chat(memory_target, "bob", "!memory", "!forget 3")
    assert "Ada" not in other and "I don't remember anything about you yet." in other
    assert "There is no item 3" in other


def test_paused_memory_stores_nothing_across_a_restart(memory_target: str | Path) -> None:
    chat(memory_target, "ada", "My name is Ada and I live in Lisbon")
    paused = chat(memory_target, "ada", "!memory off")
    assert "Memory is paused." in paused
    before = row_counts(memory_target)
    again = chat(
        memory_target, "ada", "I moved to Porto", "remember that I'm vegetarian", "!memory"
    )
    assert again.count("(Memory is paused: nothing from this conversation is stored.") == 2
    assert "Memory is paused: I store nothing new." in again
    assert row_counts(memory_target) == before
    resumed = chat(memory_target, "ada", "!memory on", "I moved to Porto")
    assert "city: Porto (was Lisbon)" in resumed
    assert row_counts(memory_target)[0] == before[0] + 4
