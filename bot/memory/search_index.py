"""Keeping the search index of everything a person said: each turn's messages indexed in the
turn's own transaction, a forgotten value re-indexed with it, a forgotten person's rows
deleted in short batches, and (SQLite) FTS5's segments merged until no deleted word is left
in them.

What is indexed: the person's messages and the bot's replies, as plain text (not tool calls
or their outputs). Each message is a row of `search_docs` at the person's next position, and
a row of the full-text index holding its text and the two messages before it (context).

SQLite keeps the index in FTS5 tables, one per shard (`uid % SEARCH_SHARDS`), contentless:
the text lives once, in `search_docs`, and a row is taken out of the index by handing FTS5 the
exact text it was indexed with. A deleted row's words stay in the index's older segments (and
a delete marker repeats them) until those are merged, so every erase is followed by a merge
job for the shard: it merges every segment into one, in short steps, then the WAL is emptied.
Small shards keep that bounded; a person's whole history is in one of them.

PostgreSQL keeps a `tsvector` (the text weighted A, its context B and C) with a GIN index on
(uid, tsv); deleted rows are gone for every reader at commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents import TResponseInputItem
from sqlalchemy import BigInteger, bindparam, cast, delete, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import is_user_message, message_text
from .positions import Run
from .ranking import has_time, word_count
from .redact import Forgotten
from .schema import POSITION_BITS, SEARCH_SHARDS, search_docs, search_users

_docs = search_docs.c
_users = search_users.c
_FORGET_USER = (
    delete(search_users).where(_users.user_key == bindparam("user")).returning(_users.uid)
)
SPAN = 1 << POSITION_BITS
# Rows deleted per step when a forgotten person's index rows go (see `erasure`).
PURGE_BATCH = 200


def fts_table(shard: int) -> str:
    return f"search_ft_{shard}"


def shard_of(uid: int) -> int:
    return uid % SEARCH_SHARDS


def first_position(uid: int) -> int:
    return uid * SPAN


def documents(items: Sequence[TResponseInputItem]) -> list[tuple[str, str]]:
    """(role, text) of what a turn's items say: the person's messages and the bot's replies."""
    found = []
    for item in items:
        kind = item.get("type", "message")
        role = item.get("role")
        if kind != "message" or role not in ("user", "assistant"):
            continue
        if role == "user" and not is_user_message(item):
            continue
        body = message_text(item).strip()
        if body:
            found.append((str(role), body))
    return found


def in_range(uid: Any) -> Any:
    """The condition on `search_docs` for the rows of the uid `uid` (an expression)."""
    low = cast(uid, BigInteger) * literal(SPAN, BigInteger)
    return _docs.id.between(low, low + literal(SPAN - 1, BigInteger))


def state_columns(user: Any) -> tuple[Any, Any, Any, Any]:
    """Columns for the commit's one read: the person's uid, the position of their newest
    indexed message, its text and the text before it (the next message's context)."""
    uid = select(_users.uid).where(_users.user_key == user).scalar_subquery()
    newest = select(func.max(_docs.id)).where(in_range(uid)).scalar_subquery()
    last = select(_docs.body).where(_docs.id == newest).scalar_subquery()
    before = select(_docs.body).where(_docs.id == newest - 1).scalar_subquery()
    return uid, newest, last, before


@dataclass(frozen=True)
class IndexState:
    uid: int | None
    newest: int | None
    last: str | None
    before: str | None


def _triple(bodies: Mapping[int, str], at: int) -> tuple[str, str, str]:
    return bodies.get(at, ""), bodies.get(at - 1, ""), bodies.get(at - 2, "")


class SearchIndex:
    """The index's statements for one back end, built once."""

    def __init__(self, dialect: str, run: Run, insert: Any) -> None:
        self.sqlite = dialect == "sqlite"
        self._run = run
        self._insert = insert
        self._stamp = search_docs.c.said_at.type
        if self.sqlite:
            self._add_docs: Any = search_docs.insert().values(
                id=bindparam("id"),
                role=bindparam("role"),
                said_at=bindparam("said_at"),
                body=bindparam("body"),
                words=bindparam("words"),
                has_time=bindparam("has_time"),
            )
            self._add_ft = [
                text(
                    f"INSERT INTO {fts_table(k)}(rowid, body, prev1, prev2) "
                    "VALUES (:id, :body, :prev1, :prev2)"
                )
                for k in range(SEARCH_SHARDS)
            ]
            self._drop_ft = [
                text(
                    f"INSERT INTO {fts_table(k)}({fts_table(k)}, rowid, body, prev1, prev2) "
                    "VALUES ('delete', :id, :body, :prev1, :prev2)"
                )
                for k in range(SEARCH_SHARDS)
            ]
        else:
            self._add_docs = text(
                "INSERT INTO search_docs (id, uid, role, said_at, body, words, has_time, tsv) "
                "VALUES (:id, :uid, :role, :said_at, :body, :words, :has_time, "
                f"{TSV_EXPRESSION})"
            )
            self._set_docs = text(
                f"UPDATE search_docs SET body = :body, tsv = {TSV_EXPRESSION} WHERE id = :id"
            )

    # --- a turn ---------------------------------------------------------------------------

    async def index_turn(
        self,
        conn: AsyncConnection,
        user_key: str,
        state: IndexState,
        items: Sequence[TResponseInputItem],
        said_at: datetime,
        dialect: Any,
    ) -> None:
        """Index what the turn's (already stored) items say, at the person's next positions."""
        said = documents(items)
        if not said:
            return
        uid = state.uid
        if uid is None:
            uid = await conn.scalar(
                search_users.insert().values(user_key=user_key).returning(_users.uid)
            )
            assert uid is not None
        position = state.newest + 1 if state.newest is not None else first_position(uid)
        prev1, prev2 = state.last or "", state.before or ""
        stamp = self._stamp.process_bind_param(said_at, dialect)
        rows = []
        for role, body in said:
            rows.append(
                {
                    "id": position,
                    "uid": uid,
                    "role": role,
                    "said_at": stamp,
                    "body": body,
                    "words": word_count(body),
                    "has_time": has_time(body),
                    "prev1": prev1,
                    "prev2": prev2,
                }
            )
            prev1, prev2 = body, prev1
            position += 1
        await self._run(conn, self._add_docs, rows)
        if self.sqlite:
            await self._run(conn, self._add_ft[shard_of(uid)], rows)

    # --- erasing --------------------------------------------------------------------------

    async def redact(
        self, conn: AsyncConnection, user_key: str, forgotten: Forgotten
    ) -> int | None:
        """Replace a forgotten value in the person's indexed text, and re-index each changed
        message and the two after it (whose context held it). Returns the shard that now
        owes a merge (SQLite, when anything changed), else None."""
        uid = await conn.scalar(select(_users.uid).where(_users.user_key == user_key))
        if uid is None:
            return None
        low = first_position(uid)
        rows = await conn.execute(
            select(_docs.id, _docs.body).where(_docs.id.between(low, low + SPAN - 1))
        )
        old = dict(rows.all())
        changed = {at: forgotten.sub(body) for at, body in old.items() if forgotten.search(body)}
        if not changed:
            return None
        new = {**old, **changed}
        affected = sorted({at + d for at in changed for d in (0, 1, 2) if at + d in old})
        if self.sqlite:
            shard = shard_of(uid)
            await self._run(conn, self._drop_ft[shard], [_ft_row(old, at) for at in affected])
            await conn.execute(
                update(search_docs)
                .where(_docs.id == bindparam("at"))
                .values(body=bindparam("new_body")),
                [{"at": at, "new_body": body} for at, body in changed.items()],
            )
            await self._run(conn, self._add_ft[shard], [_ft_row(new, at) for at in affected])
            return shard
        await conn.execute(self._set_docs, [_ft_row(new, at) for at in affected])
        return None

    async def forget_user(self, conn: AsyncConnection, user_key: str) -> int | None:
        """Make the person's indexed rows unfindable at once (their uid goes; a new one is
        given when they talk again); returns the old uid, whose rows a job deletes."""
        rows = await self._run(conn, _FORGET_USER, {"user": user_key})
        return rows[0][0] if rows else None

    async def purge_step(self, conn: AsyncConnection, uid: int) -> bool:
        """Delete up to PURGE_BATCH of a forgotten uid's rows, newest first (each row's
        context, the two before it, is still there to hand FTS5); False when none were left."""
        low = first_position(uid)
        rows = (
            await conn.execute(
                select(_docs.id, _docs.body)
                .where(_docs.id.between(low, low + SPAN - 1))
                .order_by(_docs.id.desc())
                .limit(PURGE_BATCH + 2)
            )
        ).all()
        going = [at for at, _ in rows[:PURGE_BATCH]]
        if not going:
            return False
        if self.sqlite:
            bodies = dict(rows)
            dropped = [_ft_row(bodies, at) for at in going]
            await self._run(conn, self._drop_ft[shard_of(uid)], dropped)
        await conn.execute(delete(search_docs).where(_docs.id.in_(going)))
        return True


def _ft_row(bodies: Mapping[int, str], at: int) -> dict[str, Any]:
    body, prev1, prev2 = _triple(bodies, at)
    return {"id": at, "body": body, "prev1": prev1, "prev2": prev2}


# PostgreSQL: the text, and its context at lower weights (what FTS5's column weights do).
TSV_EXPRESSION = (
    "setweight(to_tsvector('english', :body), 'A') || "
    "setweight(to_tsvector('english', :prev1), 'B') || "
    "setweight(to_tsvector('english', :prev2), 'C')"
)
