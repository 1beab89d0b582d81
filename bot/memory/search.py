"""Searching everything a person said: the full-text index's candidates for the query (scoped
to the person's own id range, so no one else's rows can come back), then `ranking.rank`.

A query's work is bounded at any history size: the index scores at most ROW_BUDGET rows (for a
long history, the rows holding the query's rarest words; if even the rarest is everywhere,
the newest of them), stage 2 reads at most 7 × CANDIDATES rows by primary key, and only the
few results' texts are read.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import SearchHit
from . import ranking
from .schema import memory_items, search_docs, search_users
from .search_index import first_position, fts_table, in_range, shard_of

_docs = search_docs.c
_users = search_users.c
ROW_BUDGET = 2_000
SNIPPET_CHARS = 200
_WEIGHTS = ", ".join(str(w) for w in ranking.CONTEXT_WEIGHTS)


def _match(terms: list[str]) -> str:
    return " OR ".join(f'"{term}"' for term in terms)


async def _person(conn: AsyncConnection, user_key: str) -> tuple[int, int, str | None] | None:
    """(uid, newest position, name) of the person, None when nothing of theirs is indexed."""
    uid = select(_users.uid).where(_users.user_key == user_key).scalar_subquery()
    row = (
        await conn.execute(
            select(
                uid,
                select(func.max(_docs.id)).where(in_range(uid)).scalar_subquery(),
                select(memory_items.c.value)
                .where(memory_items.c.user_key == user_key, memory_items.c.kind == "name")
                .scalar_subquery(),
            )
        )
    ).one()
    if row[0] is None or row[1] is None:
        return None
    return row[0], row[1], row[2]


async def _count(conn: AsyncConnection, table: str, term: str, low: int, high: int) -> int:
    """Rows of [low, high] holding `term`, counted up to ROW_BUDGET + 1 (it stops there)."""
    return (
        await conn.scalar(
            text(
                f"SELECT count(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH :q "
                "AND rowid BETWEEN :low AND :high LIMIT :cap)"
            ),
            {"q": f'"{term}"', "low": low, "high": high, "cap": ROW_BUDGET + 1},
        )
        or 0
    )


async def _plan(
    conn: AsyncConnection, table: str, terms: list[str], low: int, high: int
) -> tuple[int, str]:
    """(first position to search, MATCH expression) so that at most ROW_BUDGET rows are
    scored: the rarest terms whose counts fit select the rows, and every term still scores."""
    everything = _match(terms)
    if high - low + 1 <= ROW_BUDGET:
        return low, everything
    counts = {term: await _count(conn, table, term, low, high) for term in terms}
    keep, total = [], 0
    for term in sorted(terms, key=counts.__getitem__):
        if keep and total + counts[term] > ROW_BUDGET:
            break
        keep.append(term)
        total += counts[term]
    if total > ROW_BUDGET:
        # Even the rarest word is everywhere: its newest ROW_BUDGET rows.
        low = (
            await conn.scalar(
                text(
                    f"SELECT rowid FROM {table} WHERE {table} MATCH :q AND rowid BETWEEN :low "
                    "AND :high ORDER BY rowid DESC LIMIT 1 OFFSET :skip"
                ),
                {"q": f'"{keep[0]}"', "low": low, "high": high, "skip": ROW_BUDGET - 1},
            )
            or low
        )
    elif len(keep) == len(terms):
        return low, everything
    return low, f"({_match(keep)}) AND ({everything})"


async def _candidates_sqlite(
    conn: AsyncConnection, uid: int, newest: int, terms: list[str], body_only: bool
) -> dict[int, float]:
    table = fts_table(shard_of(uid))
    low, match = await _plan(conn, table, terms, first_position(uid), newest)
    if body_only:
        match = f"body : ({match})"
    score = f"bm25({table}, {_WEIGHTS})"
    rows = await conn.execute(
        text(
            f"SELECT rowid, -{score} FROM {table} WHERE {table} MATCH :q "
            f"AND rowid BETWEEN :low AND :high ORDER BY {score} LIMIT :n"
        ),
        {"q": match, "low": low, "high": newest, "n": ranking.CANDIDATES},
    )
    return {at: value for at, value in rows.all()}


async def _candidates_postgres(
    conn: AsyncConnection, uid: int, terms: list[str], body_only: bool
) -> dict[int, float]:
    # Weight A is the message's own text (B and C its context).
    weight = ":A" if body_only else ""
    rows = await conn.execute(
        text(
            "SELECT id, ts_rank('{0.1, 0.25, 0.5, 1.0}', tsv, q) AS score "
            "FROM search_docs, to_tsquery('english', :q) AS q "
            "WHERE uid = :uid AND tsv @@ q ORDER BY score DESC LIMIT :n"
        ),
        {"q": " | ".join(f"{term}{weight}" for term in terms), "uid": uid, "n": ranking.CANDIDATES},
    )
    return {at: float(value) for at, value in rows.all()}


_ROWS = select(_docs.id, _docs.role, _docs.said_at, _docs.words, _docs.has_time).where(
    _docs.id.in_(bindparam("ids", expanding=True))
)
_BODIES = select(_docs.id, _docs.body).where(_docs.id.in_(bindparam("ids", expanding=True)))


async def search(
    conn: AsyncConnection,
    dialect: str,
    user_key: str,
    query: str,
    limit: int,
    names: Mapping[str, str] | None,
    *,
    matched_only: bool = False,
) -> list[SearchHit]:
    """The person's best `limit` messages for `query`, best first (with `matched_only`, only
    messages the index matched, not their neighbours)."""
    person = await _person(conn, user_key)
    if person is None:
        return []
    uid, newest, name = person
    who = dict(names) if names is not None else ({"user": name} if name else {})
    asked = ranking.analyse(query, who)
    if not asked.terms:
        return []
    if dialect == "sqlite":
        scores = await _candidates_sqlite(conn, uid, newest, asked.terms, matched_only)
    else:
        scores = await _candidates_postgres(conn, uid, asked.terms, matched_only)
    if not scores:
        return []
    around = ranking.neighbours(list(scores), first_position(uid), newest)
    rows = [
        ranking.Row(at, role, said_at, words, bool(timed))
        for at, role, said_at, words, timed in (await conn.execute(_ROWS, {"ids": around})).all()
    ]
    if matched_only:
        rows = [row for row in rows if row.position in scores]
    best = ranking.rank(asked, scores, rows, limit)
    if not best:
        return []
    bodies = dict((await conn.execute(_BODIES, {"ids": best})).all())
    meta = {row.position: row for row in rows}
    return [
        SearchHit(meta[at].said_at, meta[at].role, snippet(bodies[at], asked.terms)) for at in best
    ]


def snippet(body: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """At most `width` characters of `body` around the first word that matches a term."""
    flat = " ".join(body.split())
    if len(flat) <= width:
        return flat
    stems = [t[: max(3, len(t) - 2)] for t in terms]
    words = ranking.WORD.finditer(flat)
    at = next((m.start() for m in words if m.group().casefold().startswith(tuple(stems))), 0)
    start = max(0, min(at - width // 3, len(flat) - width))
    cut = flat[start : start + width]
    if start > 0:
        cut = "…" + cut[1:]
    if start + width < len(flat):
        cut = cut[:-1] + "…"
    return cut
