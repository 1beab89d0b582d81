"""Bulk work beside the turns: a long export is decoded and encoded in short steps, each
followed by a pause in proportion to it, so other people's turns keep most of the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Items per step (about 0.1 ms with json's C code for typical items), and the pause after
# each step: at least MIN_PAUSE_S, and PAUSE_RATIO times the step when a step runs long
# (large items), so bulk work never takes more than a quarter of the loop.
STEP_ITEMS = 50
PAUSE_RATIO = 3.0
# The shortest pause. It must be a real wait, not `sleep(0)`: while the loop thread computes
# it keeps the GIL, and the database driver's threads (other users' queries) get it only
# after the 5 ms switch interval; idle in the selector, the loop releases it. 2 ms, not less:
# measured beside another person's back-to-back turns during a 20,000-item export, their
# median turn was 25-30 % slower with 0.5 ms pauses and 10-15 % with 2 ms (the export takes
# 2.2 s instead of 0.8 s; its own CPU time is under 0.1 s).
MIN_PAUSE_S = 0.002


async def pace(began: float) -> None:
    """After a step of bulk work that began at `began` (`time.perf_counter()`): wait
    PAUSE_RATIO times as long as it took, at least MIN_PAUSE_S."""
    await asyncio.sleep(max(MIN_PAUSE_S, (time.perf_counter() - began) * PAUSE_RATIO))


async def paced(items: Sequence[T]) -> AsyncIterator[tuple[int, Sequence[T]]]:
    """`items` in steps of STEP_ITEMS, as (offset, step); the caller's work on each step is
    followed by its pause (`pace`)."""
    for start in range(0, len(items), STEP_ITEMS):
        began = time.perf_counter()
        yield start, items[start : start + STEP_ITEMS]
        await pace(began)
