"""Running an operation to its end even when its caller is cancelled; driver error text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

_T = TypeVar("_T")


async def finish(operation: Awaitable[_T]) -> _T:
    """Run `operation` to the end even if the caller is cancelled, then re-raise the
    cancellation: a commit or unlock must not be cut off halfway."""
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


def driver_message(exc: BaseException) -> str:
    """The driver's own error text (empty for errors that did not come from the driver)."""
    return str(exc.orig).lower() if isinstance(exc, DBAPIError) else ""
