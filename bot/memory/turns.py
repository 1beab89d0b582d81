"""Writing one finished turn: in one transaction, its history items, its memory changes,
the kept history positions and the search index, after checking nothing was erased since the
turn read its memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agents import TResponseInputItem
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import CommitResult, MemoryChange, MemorySource
from ..core.store import ErasedDuringTurn
from ..core.usage import UsageRecord
from . import community, erasure, item_rows, positions, search_index
from .backends import Backend
from .redact import redact
from .schema import agent_messages, agent_sessions, dump_item
from .search_index import IndexState, SearchIndex
from .visible import generation as erase_generation

# A commit's statements, built (and compiled) once: every one is a round trip to the driver.
_USER = bindparam("user")
# One read for the pause flag, the erase generation, the kept history positions and where
# the person's search index ends.
_STATE = select(
    item_rows.paused_column(_USER),
    erase_generation(_USER),
    *positions.kept_columns(_USER),
    *search_index.state_columns(_USER),
)
_ADD_ITEM = agent_messages.insert().values(session_id=_USER, message_data=bindparam("data"))


class TurnWriter:
    """The statements of a commit for one back end, and the commit itself."""

    def __init__(self, backend: Backend, search: SearchIndex) -> None:
        self._backend = backend
        self._search = search
        # The session-row upsert of every commit, built once (its INSERT is the dialect's).
        self._touch_session = (
            backend.insert(agent_sessions)
            .values(session_id=bindparam("user"))
            .on_conflict_do_update(
                index_elements=[agent_sessions.c.session_id],
                set_={"updated_at": text("CURRENT_TIMESTAMP")},
            )
        )
        self._add_usage = community.add_usage_statement(backend.insert)

    async def write(
        self,
        conn: AsyncConnection,
        user_key: str,
        items: Sequence[TResponseInputItem],
        changes: Sequence[MemoryChange],
        *,
        source: MemorySource,
        stamp: datetime,
        generation: int | None,
        usage: UsageRecord | None = None,
    ) -> CommitResult:
        """The turn's writes on `conn`, in the caller's write transaction; `usage` is added
        to the person's counts (paused or not: they hold no content)."""
        # One read for the pause flag, the erase generation and the kept history
        # positions: every statement is a round trip to the driver.
        (state,) = await self._backend.run(conn, _STATE, {"user": user_key})
        paused, now_at = bool(state[0]), state[1]
        if generation is not None and now_at != generation:
            raise ErasedDuringTurn(f"erased at generation {now_at}, read at {generation}")
        today = None
        if usage is not None:
            params = community.usage_params(user_key, usage)
            (totals,) = await self._backend.run(conn, self._add_usage, params)
            today = community.counts(totals)
        wanted = [c for c in changes if c.action == "forget" or not paused]
        applied, forgotten = (
            await item_rows.apply(
                conn,
                user_key,
                wanted,
                source=source,
                stamp=stamp,
                insert=self._backend.insert,
                dialect=self._backend.name,
                search=self._search,
            )
            if wanted
            else ([], [])
        )
        if forgotten:
            await erasure.record(conn, erasure.CHECKPOINT)
        if paused:
            return CommitResult(stored=False, changes=applied, usage_today=today)
        stored = list(items)
        for each in forgotten:
            stored = [redact(item, each) for item in stored]
        if stored:
            await self._insert_history(conn, user_key, stored)
            kept = positions.kept_from(*state[2:6])
            await positions.extend(conn, user_key, kept, stored, self._backend.run)
            index = IndexState(*state[6:10])
            await self._search.index_turn(conn, user_key, index, stored, stamp, conn.dialect)
        return CommitResult(stored=True, changes=applied, items=stored, usage_today=today)

    async def _insert_history(
        self, conn: AsyncConnection, user_key: str, items: Sequence[TResponseInputItem]
    ) -> None:
        # As the SDK's add_items: the session row (created, or its updated_at touched), then
        # the items in order (one executemany).
        run = self._backend.run
        await run(conn, self._touch_session, {"user": user_key})
        rows = [{"user": user_key, "data": dump_item(item, self._backend.name)} for item in items]
        await run(conn, _ADD_ITEM, rows)
