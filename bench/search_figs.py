"""The search index's figures:

- `index_overhead_ratio`: `ChatService.turn` with the turn indexed ÷ the same with indexing
  left out (the bench replaces the store's indexing step by nothing on one side), alternately,
  in one run: what recall costs a turn.
- `search_ms_p99_100k_in_1m`: `store.search` for a person with `search_person` (100,000)
  stored messages in a file of `search_rows` (1,000,000), queries of 3–6 words taken from
  their own messages; with the index's bytes per stored message.
- recall on LoCoMo (`bench/recall.py`), when its development file is where the brief puts it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from common import Sizes, ToolTurnModel, alternate, bench_settings, percentile, ratio, seed_sqlite
from recall import measure as measure_recall_on
from sqlalchemy import create_engine

from bot.app import settle_heap
from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.memory import open_store
from bot.memory.migrations import m005_search_index

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo-dev.json"


async def measure_index_overhead(work: Path, sizes: Sizes) -> dict[str, Any]:
    """index_overhead_ratio: a turn with its messages indexed ÷ one without."""
    keys = [f"bench:{n}" for n in range(sizes.ratio_users)]
    sides = []
    for name in ("indexed", "unindexed"):
        db = work / f"index-{name}.db"
        await seed_sqlite(db, keys, sizes.window * 4)
        settings = bench_settings(db, history_window=sizes.window)
        store = open_store(settings)
        await store.open()
        if name == "unindexed":

            async def nothing(*args: Any, **kwargs: Any) -> None:
                return None

            store._turns._search.index_turn = nothing  # type: ignore[method-assign]
        service = ChatService(store, ToolTurnModel(), ChatConfig.from_settings(settings))

        async def turn(i: int, service: ChatService = service) -> None:
            text = f"question {i}"
            result = await service.turn(UserKey.parse(keys[i % len(keys)]), text)
            if result.reply != f"answer to {text}":
                raise AssertionError(f"unexpected answer {result.reply[:80]!r}")

        sides.append((store, turn))
    try:
        indexed, unindexed = await alternate([t for _, t in sides], sizes.samples, sizes.warmup)
    finally:
        for store, _ in sides:
            await store.aclose()
    return {
        "index_overhead_ratio": ratio(indexed, unindexed),
        "indexed_turn_ms_p50": round(statistics.median(indexed) * 1000, 3),
        "unindexed_turn_ms_p50": round(statistics.median(unindexed) * 1000, 3),
    }


def _vocabulary(size: int, rng: random.Random) -> tuple[list[str], list[float]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(size)})
    weights = [1 / (rank + 1) ** 1.07 for rank in range(len(words))]  # Zipf, as English
    return words, list(itertools.accumulate(weights))


def _build(db: Path, rows: int, person_rows: int, others: int, rng: random.Random) -> str:
    """A file of `rows` history rows: one person with `person_rows`, the rest spread over
    `others` people, interleaved in time; indexed by the upgrade step that indexes old files.
    Returns the person's key."""
    words, weights = _vocabulary(20_000, rng)
    person = "bench:person"
    owners = [person] * person_rows + [
        f"bench:other{n % others}" for n in range(rows - person_rows)
    ]
    rng.shuffle(owners)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executemany(
            "INSERT OR IGNORE INTO agent_sessions (session_id) VALUES (?)",
            [(key,) for key in sorted(set(owners))],
        )
        batch = []
        for owner in owners:
            text = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(8, 50)))
            batch.append((owner, json.dumps({"role": "user", "content": text})))
            if len(batch) == 20_000:
                conn.executemany(
                    "INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)", batch
                )
                batch.clear()
        conn.executemany(
            "INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)", batch
        )
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        m005_search_index.fill(conn)
    engine.dispose()
    return person


def _index_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_%'"
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(rows[0] or 0)


async def measure_search_scale(work: Path, sizes: Sizes) -> dict[str, Any]:
    """search_ms_p99_100k_in_1m and the index's bytes per stored message."""
    db = work / "search-scale.db"
    async with open_store(bench_settings(db)):
        pass  # the schema, at the current version
    rng = random.Random(18)
    began = time.perf_counter()
    person = _build(db, sizes.search_rows, sizes.search_person, 5_000, rng)
    built = time.perf_counter() - began
    with sqlite3.connect(db) as conn:
        mine = [
            json.loads(data)["content"]
            for (data,) in conn.execute(
                "SELECT message_data FROM agent_messages WHERE session_id = ? ORDER BY random() "
                "LIMIT ?",
                (person, sizes.search_queries),
            )
        ]
        indexed = conn.execute("SELECT count(*) FROM search_docs").fetchone()[0]
    queries = [
        " ".join(rng.sample(text.split(), min(len(text.split()), rng.randint(3, 6))))
        for text in mine
    ]
    timings = []
    async with open_store(bench_settings(db)) as store:
        settle_heap()  # as the bot does once started
        for query in queries[:10]:  # warm the caches
            await store.search(UserKey.parse(person), query, 10)
        for query in queries:
            started = time.perf_counter()
            hits = await store.search(UserKey.parse(person), query, 10)
            timings.append(time.perf_counter() - started)
            if not hits:
                raise AssertionError(
                    f"nothing found for words of the person's own message: {query}"
                )
    return {
        "search_ms_p99_100k_in_1m": round(percentile(timings, 99) * 1000, 3),
        "search_ms_p50_100k_in_1m": round(statistics.median(timings) * 1000, 3),
        "search_queries": len(timings),
        "search_rows": sizes.search_rows,
        "search_person_rows": sizes.search_person,
        "search_build_s": round(built, 1),
        "index_bytes_per_message": round(_index_bytes(db) / max(1, indexed), 1),
    }


def locomo_file() -> Path | None:
    """The LoCoMo file to measure on (BENCH_LOCOMO, else the brief's development split)."""
    path = Path(os.environ.get("BENCH_LOCOMO") or LOCOMO)
    return path if path.is_file() else None


async def measure_recall(sizes: Sizes) -> dict[str, Any]:
    """LoCoMo recall beside the plain baseline, when the development file is there."""
    path = locomo_file()
    if path is None:
        where = os.environ.get("BENCH_LOCOMO") or LOCOMO
        return {"recall_skipped": f"no LoCoMo file at {where} (its README says where it's from)"}
    found = await measure_recall_on(path)
    return {
        "recall_r_at_1": found["r_at_1"],
        "recall_r_at_5": found["r_at_5"],
        "recall_r_at_10": found["r_at_10"],
        "recall_questions": found["questions"],
        "recall_search_ms_p50": found["search_ms_p50"],
        "recall_search_ms_p99": found["search_ms_p99"],
        "recall_baseline_r_at_1": found["baseline"]["r_at_1"],
        "recall_baseline_r_at_5": found["baseline"]["r_at_5"],
        "recall_baseline_r_at_10": found["baseline"]["r_at_10"],
        "recall_r_at_5_over_baseline": round(found["r_at_5"] - found["baseline"]["r_at_5"], 3),
    }
