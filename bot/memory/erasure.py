"""Erase work owed to the files, done beside everything else and finished whatever happens.

An erase is instant and complete for every reader of the bot in one short transaction (rows
hidden, items deleted, the erase generation moved on) which also records the work it leaves:
deleting the hidden rows (`purge`) in short batches, so SQLite's single writer is never held
for long, and (SQLite) a WAL checkpoint that writes the zeroed pages over the file and empties
the WAL, which still holds the erased text. Jobs live in `memory_erase_jobs`, so a crash, a
full disk or a reader holding the file only delays them: they are retried with a growing
pause while the bot runs, and resumed when a store opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, delete, exists, select

from ..core.domain import utc_now
from ..core.store import StoreFull
from . import fts_merge
from .backends.sqlite import DISK_FULL, WRITE_FAILED
from .schema import agent_messages, erase_jobs, history_counts, history_marks
from .search_index import SearchIndex, fts_table, shard_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from .database import Database

log = logging.getLogger(__name__)

_jobs = erase_jobs.c
# Job kinds, in the order their work must be done.
PURGE, SEARCH_PURGE, MERGE, CHECKPOINT = "purge", "search_purge", "merge", "checkpoint"
ORDER = (PURGE, SEARCH_PURGE, MERGE, CHECKPOINT)
_messages = agent_messages.c
# Rows deleted per transaction, and the pause between transactions: each holds the writer
# for a millisecond or two, and other people's turns take it in between (see `write`).
PURGE_BATCH = 100
PURGE_PAUSE_S = 0.005
# The next batch of a person's hidden rows (an erase hid every row up to `through`).
_HIDDEN_BATCH = (
    select(_messages.id)
    .where(_messages.session_id == bindparam("user"), _messages.id <= bindparam("through"))
    .order_by(_messages.id)
    .limit(PURGE_BATCH)
)
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
# Why the erased text is not yet out of the files, as the person is told.
STILL_WORKING = "erasing a long history takes a few seconds more; it finishes in the background"


async def record_all(conn: AsyncConnection, jobs: list[dict[str, Any]]) -> None:
    """Owe several jobs (`kind`, `user_key`, `through_id` each) in one statement."""
    stamp = utc_now()
    await conn.execute(erase_jobs.insert(), [{**job, "created_at": stamp} for job in jobs])


async def record(conn: AsyncConnection, kind: str, user_key: str | None = None, **job: int) -> None:
    """Owe a job (in the caller's erase transaction, so it commits with the erase)."""
    await record_all(conn, [{"kind": kind, "user_key": user_key, **job}])


class Eraser:
    """Runs the erase jobs of one database, one at a time, in a task of its own."""

    def __init__(self, db: Database, search: SearchIndex) -> None:
        self._db = db
        self._search = search
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        self._done.set()
        # Bumped by every `start`: a worker that found no job re-reads if work was owed
        # meanwhile (it may have read the jobs just before that erase committed).
        self._asked = 0
        self._owed = False  # the worker is on a job (not just looking for one)
        # Why the owed work could not be finished yet (None while it goes to plan).
        self.blocked: str | None = None

    def start(self) -> None:
        """Work through every owed job (a no-op while already working)."""
        self._asked += 1
        self._done.clear()
        if self._task is None or self._task.done():
            # A context of its own: started from within a turn, it must not inherit that
            # turn's cross-process lock (it would skip waiting for it after the turn ends).
            self._task = asyncio.create_task(
                self._work(), name="memory-erase", context=contextvars.Context()
            )

    async def finish(self, within_s: float) -> str | None:
        """Start the owed work and wait up to `within_s` for it: None when it is all done
        (the erased text is gone from the files), else why not yet (it goes on)."""
        self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self._done.wait()
        if self._done.is_set():
            return None
        return self.blocked or STILL_WORKING

    async def wait(self) -> None:
        """Wait until every owed job is done (tests; shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            if self._owed:
                log.warning(
                    "closing with erase work not yet done in %s; it resumes at the next start",
                    self._db.describe(),
                )

    async def _work(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            asked = self._asked
            try:
                job = await self._next_job()
                self._owed = job is not None
                if job is None and asked != self._asked:
                    continue
                if job is None:
                    if self.blocked is not None:
                        log.info("erase: the erased text is now gone from %s", self._db.describe())
                    self.blocked = None
                    self._done.set()
                    return
                reason = await self._run(*job)
            except StoreFull:
                reason = DISK_FULL
            except Exception as exc:
                if self.blocked != WRITE_FAILED:  # once an episode, not at every retry
                    log.warning("erase work in %s failed", self._db.describe(), exc_info=exc)
                reason = WRITE_FAILED
            if reason is None:
                delay = RETRY_FIRST_S
                await asyncio.sleep(PURGE_PAUSE_S)
                continue
            if self.blocked != reason:
                log.warning(
                    "erase: the erased text stays in %s until it can be cleaned (%s); "
                    "retrying until it is",
                    self._db.describe(),
                    reason,
                )
            self.blocked = reason
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _next_job(self) -> tuple[int, str, str | None, int | None] | None:
        # In the order the work must happen: rows, their index entries, the index's merge,
        # then the checkpoint that takes all of it out of the WAL.
        order = case({kind: n for n, kind in enumerate(ORDER)}, value=_jobs.kind, else_=len(ORDER))
        async with self._db.reading() as conn:
            row = (
                await conn.execute(
                    select(_jobs.id, _jobs.kind, _jobs.user_key, _jobs.through_id)
                    .order_by(order, _jobs.id)
                    .limit(1)
                )
            ).first()
        return None if row is None else (row.id, row.kind, row.user_key, row.through_id)

    async def _run(
        self, job: int, kind: str, user_key: str | None, through: int | None
    ) -> str | None:
        """One step of one job: None when it went to plan, else why it could not."""
        if kind == PURGE and user_key is not None and through is not None:
            await self._purge(job, user_key, through)
            return None
        if kind == SEARCH_PURGE and through is not None:
            await self._purge_index(job, through)
            return None
        if kind == MERGE and through is not None:
            await self._merge(job, through)
            return None
        reason = await self._db.backend.checkpoint()
        if reason is None:
            # One checkpoint serves every erase committed before it began.
            async with self._db.writing() as conn:
                await conn.execute(
                    delete(erase_jobs).where(_jobs.kind == CHECKPOINT, _jobs.id <= job)
                )
        return reason

    async def _purge(self, job: int, user_key: str, through: int) -> None:
        """Delete the person's hidden rows PURGE_BATCH at a time, each batch after every
        waiting turn's commit; then what else the erase left (a kept count, old page marks)
        and the job itself."""
        params = {"user": user_key, "through": through}
        while True:
            # Which rows, read without the write lock; then their deletion, a short write.
            async with self._db.reading() as conn:
                ids = [row[0] for row in await self._db.backend.run(conn, _HIDDEN_BATCH, params)]
            if not ids:
                break
            await self._db.delete_rows(agent_messages, ids)
            await asyncio.sleep(PURGE_PAUSE_S)
        async with self._db.writing() as conn:
            # A kept count with no rows left to count (a turn racing this in another process
            # at worst loses its count, which is rebuilt when next needed).
            rows_left = exists().where(_messages.session_id == user_key)
            await conn.execute(
                delete(history_counts).where(history_counts.c.user_key == user_key, ~rows_left)
            )
            await conn.execute(
                delete(history_marks).where(
                    history_marks.c.user_key == user_key, history_marks.c.message_id <= through
                )
            )
            await conn.execute(delete(erase_jobs).where(_jobs.id == job))

    async def _purge_index(self, job: int, uid: int) -> None:
        """Delete a forgotten uid's index rows in batches; then owe their shard a merge."""
        while True:
            async with self._db.writing(background=True) as conn:
                if not await self._search.purge_step(conn, uid):
                    break
            await asyncio.sleep(PURGE_PAUSE_S)
        async with self._db.writing() as conn:
            if self._search.sqlite:
                await record(conn, MERGE, through_id=shard_of(uid))
            await conn.execute(delete(erase_jobs).where(_jobs.id == job))

    async def _merge(self, job: int, shard: int) -> None:
        """Merge the shard's FTS5 segments into one, a step at a time, so no word an erase
        deleted is left in them."""
        table = fts_table(shard)
        async with self._db.writing(background=True) as conn:
            level = await fts_merge.start(conn, table)
        while level is not None:
            await asyncio.sleep(PURGE_PAUSE_S)
            async with self._db.writing(background=True) as conn:
                if await fts_merge.step(conn, table, level):
                    break
        async with self._db.writing() as conn:
            # One merge serves every erase in this shard recorded before it began.
            await conn.execute(
                delete(erase_jobs).where(
                    _jobs.kind == MERGE, _jobs.through_id == shard, _jobs.id <= job
                )
            )
