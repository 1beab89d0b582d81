"""Running an operation to its end even when its caller is cancelled: a commit or an unlock
cut off halfway would leave the database in a state nobody asked for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")


async def finish(operation: Awaitable[_T]) -> _T:
    """Run `operation` to the end even if the caller is cancelled, then re-raise the
    cancellation."""
    task = asyncio.ensure_future(operation)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
    if cancelled is not None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("operation failed while cancelled", exc_info=task.exception())
        raise cancelled
    return task.result()
