"""Child process of `make bench`: descriptors and peak RSS after N users, one turn each.

Run in a fresh process so the figures are this workload's alone. Shipped defaults: the rate
limiter is on, MAX_CONCURRENT_TURNS is 16; users arrive 50 at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path

from bot.core.config import ChatConfig
from bot.core.domain import UserKey
from bot.models import select_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents import set_tracing_disabled  # noqa: E402
from common import bench_settings  # noqa: E402

from bot.core.chat import ChatService  # noqa: E402
from bot.memory import open_store  # noqa: E402


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not `ru_maxrss`: on Linux a child keeps the RSS its parent
    had when it forked (the bench's parent holds 200+ MB by the time it starts this), so that
    figure measured the parent. VmHWM belongs to the address space `exec` made for us."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(db: Path, users: int) -> None:
    set_tracing_disabled(True)
    settings = bench_settings(db)
    errors = 0
    async with open_store(settings) as store:
        service = ChatService(
            store, select_model(settings), ChatConfig.from_settings(settings)
        )  # the offline model
        for start in range(0, users, 50):
            results = await asyncio.gather(
                *(
                    service.turn(
                        UserKey.parse(f"discord:{10**17 + n}"),
                        "My name is Ada and I live in Lisbon",
                    )
                    for n in range(start, min(users, start + 50))
                )
            )
            errors += sum(not r.ok for r in results)
        fds = len(os.listdir("/proc/self/fd"))
    print(json.dumps({"fds": fds, "rss_mb": peak_rss_mb(), "errors": errors}))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
