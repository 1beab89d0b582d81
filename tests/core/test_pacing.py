"""Bulk work beside the turns (issue 20): each step of an export's decoding and encoding is
followed by a pause in proportion to it, so other people's turns keep most of the loop."""

from __future__ import annotations

import asyncio
import json
import time

from bot.core.commands import encode_export
from bot.core.pacing import MIN_PAUSE_S, PAUSE_RATIO, STEP_ITEMS, pace


async def test_a_step_is_followed_by_a_pause_in_proportion_to_it() -> None:
    began = time.perf_counter() - 0.02  # a step that took 20 ms
    start = time.perf_counter()
    await pace(began)
    assert time.perf_counter() - start >= 0.02 * PAUSE_RATIO * 0.99


async def test_even_a_short_step_is_followed_by_a_real_wait() -> None:
    start = time.perf_counter()
    await pace(time.perf_counter())
    assert time.perf_counter() - start >= MIN_PAUSE_S * 0.99


async def test_an_export_is_encoded_in_steps_that_let_other_work_run_between_them() -> None:
    history = [{"role": "user", "content": f"message {n} é"} for n in range(STEP_ITEMS * 6)]
    data = {"user": "console:ada", "memory": [], "history": history}
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    text = await encode_export(data)
    done = True
    await running
    assert json.loads(text) == data
    assert ticks >= 6  # the loop ran other work between the steps
