"""Bulk work beside the turns: a long export is decoded and encoded in short steps, each
followed by a pause in proportion to it, so other people's turns keep most of the loop."""

from __future__ import annotations

import asyncio
import time

# Items per step (a fraction of a millisecond with json's C code), and the pause after each
# step as a multiple of the step's own time: bulk work takes at most a quarter of the loop.
STEP_ITEMS = 50
PAUSE_RATIO = 3.0
# The shortest pause. It must be a real wait, not `sleep(0)`: while the loop thread computes
# it keeps the GIL, and the database driver's threads (other users' queries) get it only
# after the 5 ms switch interval; idle in the selector, the loop releases it.
MIN_PAUSE_S = 0.0005


async def pace(began: float) -> None:
    """After a step of bulk work that began at `began` (`time.perf_counter()`): wait
    PAUSE_RATIO times as long as it took, at least MIN_PAUSE_S."""
    await asyncio.sleep(max(MIN_PAUSE_S, (time.perf_counter() - began) * PAUSE_RATIO))
