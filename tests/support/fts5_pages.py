"""What an FTS5 index physically holds, for the tests that check a forgotten word is gone.

FTS5 prefix-compresses the terms on each leaf page (a term is stored as "the first n bytes
of the one before, then these"), so grepping a file for a word can miss it while it is still
in the index. This decodes every leaf page of every segment (SQLite 3.40's format) and lists
the terms they hold, as the index stores them (lower case, porter-stemmed, diacritics gone).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.memory.fts_merge import varint

TOKENIZER = "porter unicode61 remove_diacritics 2"


def leaf_terms(conn: sqlite3.Connection, table: str) -> set[str]:
    """Every term on a leaf page of `table`'s segments, deleted ones included."""
    found: set[str] = set()
    for row_id, block in conn.execute(f"SELECT id, block FROM {table}_data WHERE id > 10"):
        is_doclist_index = (row_id >> 36) & 1
        height = (row_id >> 31) & 31
        if is_doclist_index or height or block is None or len(block) < 4:
            continue
        leaf_size = int.from_bytes(block[2:4], "big")
        offsets, at, total = [], leaf_size, 0
        while at < len(block):
            step, at = varint(block, at)
            total += step
            offsets.append(total)
        previous = b""
        for n, offset in enumerate(offsets):
            if n == 0:
                size, at = varint(block, offset)
                term = block[at : at + size]
            else:
                shared, at = varint(block, offset)
                size, at = varint(block, at)
                term = previous[:shared] + block[at : at + size]
            previous = term
            found.add(term[1:].decode("utf-8", "replace"))  # the first byte: which index
    for (term,) in conn.execute(f"SELECT term FROM {table}_idx"):
        if isinstance(term, bytes) and term:
            found.add(term[1:].decode("utf-8", "replace"))
    return found


def stem(word: str) -> str:
    """`word` as the index stores it."""
    with sqlite3.connect(":memory:") as conn:
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, row)")
        conn.execute("INSERT INTO t VALUES (?)", (word,))
        [(term,)] = conn.execute("SELECT term FROM v").fetchall()
    return term


def indexed_anywhere(db: Path, *words: str) -> list[str]:
    """Which of `words` any shard's index still holds, on any leaf page."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE name LIKE 'search_ft_%' "
                "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
            )
        ]
        held = set().union(*(leaf_terms(conn, t) for t in tables)) if tables else set()
    return [word for word in words if stem(word) in held]
