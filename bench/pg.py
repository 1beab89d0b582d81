"""PostgreSQL beside SQLite, on a throw-away server started with the tests' own helpers.

Unlike the tests' server (fsync off: its data dies with the run), this one is durable:
fsync, synchronous_commit and full_page_writes stay at PostgreSQL's defaults (on), because
`pg_throughput_ratio` compares it with an SQLite file that syncs its commits.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import ROOT, Sizes, bench_settings, history_items, ratio, summary
from load import bot_throughput
from memory_figs import _page_ratio

sys.path.insert(0, str(ROOT / "tests" / "support"))

import pg_server  # noqa: E402
from pg_install import find_bindir  # noqa: E402

DURABLE_OPTIONS = "-c max_connections=200 -c shared_buffers=64MB"


@contextlib.contextmanager
def durable_server() -> Iterator[tuple[Any, str]]:
    """(server, "") when PostgreSQL runs, else (None, why not). Never installs anything."""
    bindir = find_bindir()
    if bindir is None:
        yield (
            None,
            "PostgreSQL programs (initdb, pg_ctl) not found; install PostgreSQL or set"
            " PG_BINDIR (the bench never installs it)",
        )
        return
    pg_server.SERVER_OPTIONS = DURABLE_OPTIONS
    try:
        server = pg_server.start_server(bindir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        yield None, f"PostgreSQL did not start: {str(exc).splitlines()[0][:200]}"
        return
    try:
        yield server, ""
    finally:
        server.stop()


async def _seed_pg(url: str, user: str, items: int) -> None:
    """History written by the SDK's own public `SQLAlchemySession.add_items`."""
    from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        session = SQLAlchemySession(user, engine=engine, create_tables=True)
        batch = history_items(items)
        for start in range(0, len(batch), 10_000):
            await session.add_items(batch[start : start + 10_000])
    finally:
        await engine.dispose()


async def measure_pg(work: Path, sizes: Sizes) -> dict[str, Any]:
    with durable_server() as (server, why_not):
        if server is None:
            return {"pg_skipped": why_not}
        settings_of = {
            "fsync": server.psql("SHOW fsync"),
            "commit": server.psql("SHOW synchronous_commit"),
        }
        figures: dict[str, Any] = {
            "pg_fsync": settings_of["fsync"],
            "pg_synchronous_commit": settings_of["commit"],
        }
        server.create_database("throughput")
        pg = bench_settings(work / "unused.db", database_url=server.url("throughput"))
        lite = bench_settings(work / "pg-compare.db")
        users = max(1, sizes.pg_throughput_users // sizes.throughput_rounds)
        rates: dict[str, list[float]] = {"pg": [], "sqlite": []}
        for r in range(sizes.throughput_rounds):
            order = [("pg", pg), ("sqlite", lite)]
            for name, settings in order if r % 2 == 0 else order[::-1]:
                rates[name].append(await bot_throughput(settings, sizes, users, f"r{r}"))
        pg_rate = sum(rates["pg"]) / len(rates["pg"])
        lite_rate = sum(rates["sqlite"]) / len(rates["sqlite"])
        figures |= {
            "pg_throughput_ratio": round(pg_rate / lite_rate, 3),
            "pg_throughput_turns_per_s": round(pg_rate, 1),
            "pg_compare_sqlite_turns_per_s": round(lite_rate, 1),
        }
        server.create_database("deep")
        url = server.url("deep")
        deep = bench_settings(work / "unused.db", database_url=url)

        async def seed(store: object) -> None:
            await _seed_pg(url, "deep", sizes.deep_items)

        first, far = await _page_ratio(deep, seed, sizes, ("deep", 1), ("deep", sizes.deep_page))
        figures |= {
            "pg_history_deep_page_ratio": ratio(far, first),
            **summary("pg_history_page_1", first),
            **summary("pg_history_deep_page", far),
        }
        return figures
