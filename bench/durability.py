"""Child process of `make bench`: commits (and, under strace, fsyncs) per turn on each side
of `core_overhead_ratio`.

Commits are counted from each file's write-ahead log (commit frames), whoever writes it. The
parent runs this under `strace -f -e trace=fsync,fdatasync,getppid` when strace exists; the
`getppid()` calls mark where each side's measured turns begin and end in the trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents import set_tracing_disabled  # noqa: E402
from common import wal_commits  # noqa: E402
from overhead import core_sides  # noqa: E402

SIDES = ("bare", "bot")


async def main(work: Path, turns: int, window: int) -> None:
    set_tracing_disabled(True)
    counted: dict[str, float | None] = {}
    async with core_sides(work, 4, window) as (sides, files):
        for i in range(4):  # connections, tables and caches warm on both sides
            for name in SIDES:
                await sides[name](i)
        i = 100
        for name in SIDES:
            before = wal_commits(files[name])
            os.getppid()  # marker: this side's turns begin
            for _ in range(turns):
                await sides[name](i)
                i += 1
            os.getppid()  # marker: they end
            after = wal_commits(files[name])
            same_log = before is not None and after is not None and before[0] == after[0]
            counted[name] = (after[1] - before[1]) / turns if same_log else None  # type: ignore[index]
    print(json.dumps({"commits_per_turn": counted, "turns": turns}))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
