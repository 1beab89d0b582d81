"""Searching everything a person said: the full-text index's candidates for the query (scoped
to the person's own id range, so no one else's rows can come back), then `ranking.rank`.

A query's work is bounded at any history size: the index scores at most ROW_BUDGET rows (for a
long history, the rows holding the query's rarest words, scored by those words; if even the
rarest is everywhere, none: the newest rows holding it are the candidates), stage 2 reads at
most 7 × CANDIDATES rows (half that for a long history) by primary key, and only the few
results' texts are read. Each step is one statement, built once and run in one round trip to
the driver (`Backend.run`): a search is four or five of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from ..core.domain import SearchHit
from . import ranking
from .positions import Run
from .schema import memory_items, search_docs, search_users
from .search_index import first_position, fts_table, in_range, shard_of

_docs = search_docs.c
_users = search_users.c
ROW_BUDGET = 2_000
SNIPPET_CHARS = 200
_WEIGHTS = ", ".join(str(w) for w in ranking.CONTEXT_WEIGHTS)

_USER = bindparam("user")
_UID = select(_users.uid).where(_users.user_key == _USER).scalar_subquery()
# The person: their uid, their newest indexed position, and their remembered name.
_PERSON = select(
    _UID,
    select(func.max(_docs.id)).where(in_range(_UID)).scalar_subquery(),
    select(memory_items.c.value)
    .where(memory_items.c.user_key == _USER, memory_items.c.kind == "name")
    .scalar_subquery(),
)


def _match(terms: list[str]) -> str:
    return " OR ".join(f'"{term}"' for term in terms)


@cache
def _counts(shard: int, terms: int) -> Executable:
    """Rows holding each of `terms` query words, each counted up to :cap (it stops there)."""
    table = fts_table(shard)
    return text(
        "SELECT "
        + ", ".join(
            f"(SELECT count(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH :q{n} "
            "AND rowid BETWEEN :low AND :high LIMIT :cap))"
            for n in range(terms)
        )
    )


@cache
def _newest(shard: int) -> Executable:
    table = fts_table(shard)
    return text(
        f"SELECT rowid, 1.0 FROM {table} WHERE {table} MATCH :q "
        "AND rowid BETWEEN :low AND :high ORDER BY rowid DESC LIMIT :n"
    )


@cache
def _bm25(shard: int) -> Executable:
    table = fts_table(shard)
    score = f"bm25({table}, {_WEIGHTS})"
    return text(
        f"SELECT rowid, -{score} FROM {table} WHERE {table} MATCH :q "
        f"AND rowid BETWEEN :low AND :high ORDER BY {score} LIMIT :n"
    )


_TS_RANK = text(
    "SELECT id, ts_rank('{0.1, 0.25, 0.5, 1.0}', tsv, q) AS score "
    "FROM search_docs, to_tsquery('english', :q) AS q "
    "WHERE uid = :uid AND tsv @@ q ORDER BY score DESC LIMIT :n"
)
_ROWS = {
    "sqlite": text(
        "SELECT id, role, said_at, words, has_time FROM search_docs "
        "WHERE id IN (SELECT value FROM json_each(:ids))"
    ),
    "postgresql": text(
        "SELECT id, role, said_at, words, has_time FROM search_docs WHERE id = ANY(:ids)"
    ),
}
_BODIES = {
    "sqlite": text(
        "SELECT id, body FROM search_docs WHERE id IN (SELECT value FROM json_each(:ids))"
    ),
    "postgresql": text("SELECT id, body FROM search_docs WHERE id = ANY(:ids)"),
}


async def _plan(
    conn: AsyncConnection, run: Run, shard: int, terms: list[str], low: int, high: int
) -> tuple[str, bool]:
    """(MATCH expression, whether to score it) so that at most ROW_BUDGET rows are scored:
    for a long history, the rarest terms whose counts fit select and score the rows; when
    even the rarest word is in more than ROW_BUDGET of the person's messages, nothing is
    scored (its newest rows are the candidates)."""
    everything = _match(terms)
    if high - low + 1 <= ROW_BUDGET:
        return everything, True
    params: dict[str, Any] = {f"q{n}": f'"{term}"' for n, term in enumerate(terms)}
    (row,) = await run(
        conn,
        _counts(shard, len(terms)),
        {**params, "low": low, "high": high, "cap": ROW_BUDGET + 1},
    )
    counts = dict(zip(terms, row, strict=True))
    keep, total = [], 0
    for term in sorted(terms, key=counts.__getitem__):
        if keep and total + counts[term] > ROW_BUDGET:
            break
        keep.append(term)
        total += counts[term]
    # Only the selecting words score: a word in more than ROW_BUDGET of the person's messages
    # says little about any one of them, and scoring it costs a pass over every row that
    # holds it (FTS5's bm25 counts them across the whole table, not the person's range).
    return _match(keep), total <= ROW_BUDGET


async def _candidates(
    conn: AsyncConnection,
    run: Run,
    dialect: str,
    uid: int,
    newest: int,
    terms: list[str],
    body_only: bool,
) -> dict[int, float]:
    if dialect != "sqlite":
        # Weight A is the message's own text (B and C its context).
        weight = ":A" if body_only else ""
        query = " | ".join(f"{term}{weight}" for term in terms)
        rows = await run(conn, _TS_RANK, {"q": query, "uid": uid, "n": ranking.CANDIDATES})
        return {at: float(value) for at, value in rows}
    shard = shard_of(uid)
    first = first_position(uid)
    match, scored = await _plan(conn, run, shard, terms, first, newest)
    if body_only:
        match = f"body : ({match})"
    # A long history's candidates are its rarest words' best: fewer are needed to find them.
    wanted = ranking.CANDIDATES if newest - first < ROW_BUDGET else ranking.CANDIDATES // 2
    params = {"q": match, "low": first, "high": newest, "n": wanted}
    statement = _bm25(shard) if scored else _newest(shard)
    return {at: value for at, value in await run(conn, statement, params)}


def _ids(dialect: str, ids: list[int]) -> Any:
    return json.dumps(ids) if dialect == "sqlite" else ids


def _moment(value: Any) -> datetime:
    """The driver's own value: ISO text on SQLite (see `UtcTimestamp`), else a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _day(value: Any) -> str:
    """The UTC day of a driver's value, as "2023-05-08" (stored UTC: its first ten chars)."""
    return value[:10] if isinstance(value, str) else value.astimezone(UTC).date().isoformat()


async def search(
    conn: AsyncConnection,
    run: Run,
    dialect: str,
    user_key: str,
    query: str,
    limit: int,
    names: Mapping[str, str] | None,
    *,
    matched_only: bool = False,
) -> list[SearchHit]:
    """The person's best `limit` messages for `query`, best first (with `matched_only`, only
    messages whose own text matched, not their neighbours)."""
    (person,) = await run(conn, _PERSON, {"user": user_key})
    uid, newest, name = person
    if uid is None or newest is None:
        return []
    who = dict(names) if names is not None else ({"user": name} if name else {})
    asked = ranking.analyse(query, who)
    if not asked.terms:
        return []
    scores = await _candidates(conn, run, dialect, uid, newest, asked.terms, matched_only)
    if not scores:
        return []
    around = ranking.neighbours(list(scores), first_position(uid), newest)
    if matched_only:
        around = [at for at in around if at in scores]
    found = await run(conn, _ROWS[dialect], {"ids": _ids(dialect, around)})
    said_at = {at: moment for at, _, moment, _, _ in found}
    rows = [
        ranking.Row(at, role, _day(moment), words, bool(timed))
        for at, role, moment, words, timed in found
    ]
    best = ranking.rank(asked, scores, rows, limit)
    if not best:
        return []
    bodies = dict(await run(conn, _BODIES[dialect], {"ids": _ids(dialect, best)}))
    role = {row.position: row.role for row in rows}
    return [
        SearchHit(_moment(said_at[at]), role[at], snippet(bodies[at], asked.terms)) for at in best
    ]


def snippet(body: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """At most `width` characters of `body` around the first word that matches a term."""
    flat = " ".join(body.split())
    if len(flat) <= width:
        return flat
    stems = tuple(t[: max(3, len(t) - 2)] for t in terms)
    words = ranking.WORD.finditer(flat)
    at = next((m.start() for m in words if m.group().casefold().startswith(stems)), 0)
    start = max(0, min(at - width // 3, len(flat) - width))
    cut = flat[start : start + width]
    if start > 0:
        cut = "…" + cut[1:]
    if start + width < len(flat):
        cut = cut[:-1] + "…"
    return cut
