"""Reply text shown while it is generated, without ever holding up the model.

The run only records text (never awaits a front end); a separate task hands it to the front
end's sink. A slow or rate-limited sink (a Discord edit) therefore cannot eat the turn's time
limit, and a finished answer is never turned into a timeout by its progress display.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

TextSink = Callable[[str], Awaitable[None]]


class ProgressFeed:
    """Collects text deltas from a run and passes them to `sink` from its own task.

    Deltas that arrive while the sink is busy are joined and passed in one call. `record`
    never blocks; `stop` (after the run) waits for the sink call in flight and passes what is
    left in one last call, so the sink sees all the text, in order.
    """

    def __init__(self, sink: TextSink, limit: int) -> None:
        self._sink = sink
        self._limit = limit
        self._pending: list[str] = []
        self._recorded = 0
        self._wake = asyncio.Event()
        self._stopped = False
        self._failed = False
        self._task = asyncio.create_task(self._pump())

    def record(self, delta: str) -> None:
        """Note new reply text (beyond `limit` characters it is not shown: the reply is cut)."""
        room = self._limit - self._recorded
        if room <= 0 or not delta:
            return
        delta = delta[:room]
        self._recorded += len(delta)
        self._pending.append(delta)
        self._wake.set()

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            stopping = self._stopped
            text, self._pending = "".join(self._pending), []
            if text:
                await self._pass(text)
            if stopping:
                return

    async def _pass(self, text: str) -> None:
        try:
            await self._sink(text)
        except Exception:
            # A front end failing to show progress must not fail the turn; say it once.
            if not self._failed:
                self._failed = True
                log.warning(
                    "showing reply progress failed; the final reply still follows", exc_info=True
                )

    async def stop(self) -> None:
        """Pass what is left and stop; returns once the last sink call has finished."""
        self._stopped = True
        self._wake.set()
        await self._task
