"""Merging an FTS5 table's segments until no deleted word is left in them (SQLite).

FTS5 never rewrites a segment: deleting a row writes a delete marker (holding the row's
words) into a new segment, and the row's words stay in the old ones until segments are
merged. SQLite 3.42's `secure-delete` option would remove them at once; this bot supports
3.40, so after an erase it merges every segment of the shard into one, in steps of
MERGE_PAGES pages (`'merge', -N` starts a merge of all segments, `'merge', N` continues it),
each its own short transaction, and reads the table's structure record to know when that
merge is done. The record's format is FTS5's own; if it is not the one this code reads (a
newer SQLite), one `'optimize'` does the same work in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The id of the structure record in a table's `_data` shadow table.
_STRUCTURE_ID = 10
# Pages a merge step writes: a few milliseconds of the writer each.
MERGE_PAGES = 32


@dataclass(frozen=True)
class Level:
    merging: int  # input segments of a merge in progress on this level (0: none)
    segments: int


def varint(data: bytes, at: int) -> tuple[int, int]:
    """The SQLite varint at `at` in `data`, and where the next value starts."""
    value = 0
    for k in range(8):
        byte = data[at + k]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + k + 1
    return (value << 8) | data[at + 8], at + 9


def levels(record: bytes) -> list[Level]:
    """The levels of an FTS5 structure record (the format of SQLite 3.40); ValueError for
    any other."""
    if len(record) < 5 or record[4:8] == b"\xff\x00\x00\x01":
        raise ValueError("not the FTS5 structure format this bot reads")
    at = 4  # the cookie
    count, at = varint(record, at)
    _, at = varint(record, at)  # segments in all
    _, at = varint(record, at)  # write counter
    found = []
    for _ in range(count):
        merging, at = varint(record, at)
        segments, at = varint(record, at)
        for _ in range(3 * segments):  # each segment: id, first page, last page
            _, at = varint(record, at)
        found.append(Level(merging, segments))
    if at != len(record):
        raise ValueError("not the FTS5 structure format this bot reads")
    return found


async def structure(conn: AsyncConnection, table: str) -> list[Level] | None:
    """The table's levels; None when its structure record cannot be read."""
    record = await conn.scalar(text(f"SELECT block FROM {table}_data WHERE id = {_STRUCTURE_ID}"))
    if not isinstance(record, bytes):
        return []
    try:
        return levels(record)
    except (ValueError, IndexError):
        return None


async def start(conn: AsyncConnection, table: str) -> int | None:
    """Start merging every segment of `table` into one; returns the level that merge runs
    on, None when there is nothing to merge (at most one segment). Falls back to one
    `'optimize'` when the structure record cannot be read."""
    before = await structure(conn, table)
    if before is None:
        await conn.execute(text(f"INSERT INTO {table}({table}) VALUES ('optimize')"))
        return None
    if sum(level.segments for level in before) <= 1:
        return None
    merge = text(f"INSERT INTO {table}({table}, rank) VALUES ('merge', :pages)")
    await conn.execute(merge, {"pages": -MERGE_PAGES})
    after = await structure(conn, table) or []
    busy = [n for n, level in enumerate(after) if level.merging > 0]
    return busy[-1] if busy else None


async def step(conn: AsyncConnection, table: str, level: int) -> bool:
    """Continue the merge started on `level`; True when it is done."""
    merge = text(f"INSERT INTO {table}({table}, rank) VALUES ('merge', :pages)")
    await conn.execute(merge, {"pages": MERGE_PAGES})
    after = await structure(conn, table)
    return after is None or level >= len(after) or after[level].merging == 0
