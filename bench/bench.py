"""`make bench`: the bot's figures, each ratio's sides measured alternately in one run.

Prints every figure with its goal and PASS/MISS (record-only figures say so) and writes them
all to bench/results.json. Not part of `make test` (a smoke test runs it with BENCH_QUICK=1).
Sizes: see `Sizes` in common.py; BENCH_QUICK=1 for a fast smoke run; BENCH_DIR=<dir> puts
the files on another file system (default: the system temp directory); BENCH_ONLY=slack,stall
runs only the sections whose titles contain one of those words.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents import set_tracing_disabled  # noqa: E402
from common import Sizes, ToolTurnModel, bench_settings, file_system  # noqa: E402
from load import (  # noqa: E402
    measure_concurrency,
    measure_loop_lag,
    measure_rate_limiter,
    measure_stall,
    measure_throughput,
)
from memory_figs import many_users, measure_deep_page, measure_history, measure_window  # noqa: E402
from overhead import measure_core, measure_frontend  # noqa: E402
from paths import console_path, discord_path, measure_plugged, plugged_paths  # noqa: E402
from pg import measure_pg  # noqa: E402
from search_figs import measure_index_overhead, measure_recall, measure_search_scale  # noqa: E402

# figure: (comparison, goal). "record" figures have no goal and print as such.
GOALS: dict[str, tuple[str, Any]] = {
    "noise_ratio": ("record", "≈ 1: the spread of a ratio with no difference"),
    "core_overhead_ratio": ("<=", 1.05),
    "discord_overhead_ratio": ("<=", 1.10),
    "console_overhead_ratio": ("<=", 1.10),
    "slack_overhead_ratio": ("<=", 1.10),
    "slack_overhead_ratio_with_fake": ("record", "the fake Slack's own work left in"),
    "slack_fake_ms_p50": ("record", "the fake Slack alone: signed event out, postMessage in"),
    "throughput_ratio": (">=", 1.0),
    "concurrency_ratio": ("record", "wall ÷ ceil(users/16) × latency, a lower bound: ≥ 1"),
    "stall_ratio": ("<=", 1.5),
    "rate_limiter_s_50000_users": ("<=", 0.5),
    "loop_lag_ms_p99": ("<", 20),
    "history_deep_page_ratio": ("<=", 2),
    "history_ratio_10000_vs_100": ("<=", 2),
    "fds_after_10000_users": ("<=", 64),
    "rss_mb_after_10000_users": ("<=", 200),
    "errors_10000_users": ("==", 0),
    "model_input_items_at_turn_500": ("<=", 44),  # 10 turns × 4 items + the turn itself
    "recalled_at_turn_500": ("==", True),
    "index_overhead_ratio": ("<=", 1.05),
    "search_ms_p99_100k_in_1m": ("<=", 20),
    "index_bytes_per_message": ("record", "the search index's bytes per stored message"),
    "recall_r_at_5": (">=", 0.75),
    "recall_r_at_10": (">=", 0.85),
    "recall_r_at_5_over_baseline": (">=", 0.10),
    "recall_baseline_r_at_5": ("record", "plain FTS5 bm25, the question's words OR-ed"),
    "recall_baseline_r_at_10": ("record", "plain FTS5 bm25, the question's words OR-ed"),
    "pg_throughput_ratio": (">=", 0.8),
    "pg_history_deep_page_ratio": ("<=", 2),
}


def verdict(key: str, value: Any) -> str:
    kind, goal = GOALS[key]
    if kind == "record" or value is None:
        return ""
    met = {
        "<=": lambda: value <= goal,
        "<": lambda: value < goal,
        ">=": lambda: value >= goal,
        "==": lambda: value == goal,
    }[kind]()
    return "PASS" if met else "MISS"


def durability(work: Path, sizes: Sizes) -> dict[str, Any]:
    """Commits and fsyncs per turn on both sides of core_overhead_ratio (a child process;
    fsyncs only when strace is installed)."""
    script = ROOT / "bench" / "durability.py"
    args = [sys.executable, str(script), str(work / "durability"), str(sizes.durability_turns)]
    args.append(str(sizes.window))
    (work / "durability").mkdir()
    trace = work / "durability.strace"
    strace = shutil.which("strace")
    command = args
    if strace:
        calls = "trace=fsync,fdatasync,getppid"
        command = [strace, "-f", "-qq", "--seccomp-bpf", "-e", calls, "-o", str(trace), *args]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if proc.returncode != 0 and strace:
        # Some sandboxes forbid ptrace: count commits without it.
        strace, proc = None, subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"durability.py failed: {proc.stderr.strip()[-1500:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    commits = found["commits_per_turn"]
    figures: dict[str, Any] = {
        "commits_per_turn_bare_sdk": commits["bare"],
        "commits_per_turn_bot": commits["bot"],
    }
    if not strace:
        figures["fsyncs_per_turn"] = "not counted: strace is not installed"
        return figures
    syncs: list[int] = []
    for line in trace.read_text().splitlines():
        if "resumed>" in line:
            continue
        if "getppid(" in line:
            syncs.append(0)
        elif re.search(r"\b(fsync|fdatasync)\(", line) and syncs:
            syncs[-1] += 1
    # Markers: start bare, end bare, start bot, end bot; the counts after starts are the turns.
    if len(syncs) != 4:
        figures["fsyncs_per_turn"] = f"not counted: {len(syncs)} markers in the trace, not 4"
        return figures
    turns = found["turns"]
    figures["fsyncs_per_turn_bare_sdk"] = round(syncs[0] / turns, 2)
    figures["fsyncs_per_turn_bot"] = round(syncs[2] / turns, 2)
    return figures


Section = tuple[str, Callable[[], Awaitable[dict[str, Any]]]]


async def run(work: Path, sizes: Sizes) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {}
    errors: list[str] = []

    async def frontend(name: str, opener: Any, *, users: int) -> dict[str, Any]:
        settings = bench_settings(work / f"{name}.db", history_window=sizes.window)
        async with opener(settings, ToolTurnModel(), users) as path:
            return await measure_frontend(name, path, sizes)

    async def sync(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return fn()

    sections: list[Section] = [
        ("noise and core overhead", lambda: measure_core(work, sizes)),
        ("commits and fsyncs per turn", lambda: sync(lambda: durability(work, sizes))),
        ("Discord path", lambda: frontend("discord", discord_path, users=sizes.ratio_users)),
        ("console path", lambda: frontend("console", console_path, users=1)),
    ]
    for name, opener in plugged_paths().items():
        sections.append(
            (f"{name} path", lambda n=name, o=opener: measure_plugged(n, o, work, sizes))
        )
    sections += [
        ("throughput", lambda: measure_throughput(work, sizes)),
        ("concurrency", lambda: measure_concurrency(work, sizes)),
        ("event-loop lag", lambda: measure_loop_lag(work, sizes)),
        ("stall during export/forget", lambda: measure_stall(work, sizes)),
        ("rate limiter", lambda: sync(lambda: measure_rate_limiter(sizes))),
        ("fds and RSS after many users", lambda: sync(lambda: many_users(work, sizes))),
        ("!history latency", lambda: measure_history(work, sizes)),
        ("deep history page", lambda: measure_deep_page(work, sizes)),
        ("window at turn 500", lambda: measure_window(work, sizes)),
        ("search index cost per turn", lambda: measure_index_overhead(work, sizes)),
        ("search at scale", lambda: measure_search_scale(work, sizes)),
        ("recall on LoCoMo", lambda: measure_recall(sizes)),
        ("PostgreSQL", lambda: measure_pg(work, sizes)),
    ]
    only = [word for word in os.environ.get("BENCH_ONLY", "").lower().split(",") if word.strip()]
    for title, section in sections:
        if only and not any(word.strip() in title.lower() for word in only):
            continue
        print(f"[bench] {title}...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            results.update(await section())
        except Exception:
            errors.append(f"{title}: {traceback.format_exc(limit=3).strip()}")
            traceback.print_exc()
        print(f"[bench] {title}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if "slack_overhead_ratio" not in results and not only:
        results["slack_skipped"] = "no bench/slack_path.py with slack_path(db) (see paths.py)"
    return results, errors


def header(work: Path, sizes: Sizes, quick: bool) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.release()}",
        "file_system": file_system(work),
        "quick": quick,
        "sizes": {k: v for k, v in vars(sizes).items()},
    }


def print_report(results: dict[str, Any]) -> None:
    print(f"machine: {results['machine']}")
    print(f"files on: {results['file_system']}; date: {results['date']}")
    if results["quick"]:
        print("QUICK RUN (BENCH_QUICK=1): sizes are too small for the goals to mean anything")
    print()
    print(f"{'figure':<32} {'value':>10}  {'goal':<10} verdict")
    for key, (kind, goal) in GOALS.items():
        if key not in results:
            continue
        shown = "record" if kind == "record" else f"{kind} {goal}"
        value = results[key]
        print(f"{key:<32} {value!s:>10}  {shown:<10} {verdict(key, value)}")
    for key in ("pg_skipped", "slack_skipped", "recall_skipped"):
        if key in results:
            print(f"{key.removesuffix('_skipped')}: skipped: {results[key]}")
    print()
    skip = set(GOALS) | {"date", "machine", "file_system", "quick", "sizes"}
    for key, value in results.items():
        if key not in skip and not key.endswith("_skipped"):
            print(f"  {key} = {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    set_tracing_disabled(True)
    sizes = Sizes.from_env()
    quick = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
    base = os.environ.get("BENCH_DIR") or None
    with tempfile.TemporaryDirectory(prefix="bot-bench-", dir=base) as tmp:
        work = Path(tmp)
        results = header(work, sizes, quick)
        print(f"[bench] files on {results['file_system']}", file=sys.stderr)
        figures, errors = asyncio.run(run(work, sizes))
    results |= figures
    if errors:
        results["errors"] = errors
    print_report(results)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
