"""`make bench` end to end at smoke size: every figure is produced, with a verdict where it has
a goal. No timing is asserted (the sizes are far too small, and the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pg_install import find_bindir

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

# The figures issue 11 (and issue 9's loop-lag and deep-page figures) ask `make bench` for.
FIGURES = (
    "noise_ratio",
    "core_overhead_ratio",
    "commits_per_turn_bare_sdk",
    "commits_per_turn_bot",
    "discord_overhead_ratio",
    "console_overhead_ratio",
    "throughput_ratio",
    "concurrency_ratio",
    "concurrency_lower_bound_s",
    "stall_ratio",
    "rate_limiter_s_50000_users",
    "loop_lag_ms_p99",
    "history_deep_page_ratio",
    "fds_after_10000_users",
    "rss_mb_after_10000_users",
    "history_at_100_ms_p99",
    "history_at_10000_ms_p99",
    "model_input_items_at_turn_500",
    "index_overhead_ratio",
    "search_ms_p99_100k_in_1m",
    "index_bytes_per_message",
)
# Each side of each ratio reports its own distribution, with its run count.
DISTRIBUTIONS = ("bare_sdk_turn", "core_turn", "discord_turn", "discord_core_turn")
PG_FIGURES = ("pg_throughput_ratio", "pg_history_deep_page_ratio")


def run_bench_script(
    script: str, *args: str, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`bench/<script> args` as a person runs it; it must succeed."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "BENCH_QUICK": "1", "BENCH_DIR": str(tmp_path)}
    proc = run_bench_script("bench.py", "--out", str(out), env=env, timeout=900)
    results = json.loads(out.read_text())
    assert "errors" not in results
    assert results["quick"] is True
    assert results["file_system"] and not results["file_system"].startswith("unknown")
    missing = [key for key in FIGURES if results.get(key) is None]
    assert missing == []
    for side in DISTRIBUTIONS:
        assert results[f"{side}_runs"] == results["sizes"]["samples"]
        assert results[f"{side}_ms_p99"] >= results[f"{side}_ms_p50"] > 0
    # The ratios' sides really ran (a failed turn raises instead of being timed).
    assert results["commits_per_turn_bot"] >= 1
    assert results["errors_10000_users"] == 0
    assert results["recalled_at_turn_500"] is True
    # Every figure with a goal printed its verdict.
    for key in ("core_overhead_ratio", "stall_ratio", "loop_lag_ms_p99"):
        line = next(line for line in proc.stdout.splitlines() if line.startswith(key + " "))
        assert line.rstrip().endswith(("PASS", "MISS")), line
    # Recall on LoCoMo runs where the brief's file is, and says why not where it is absent.
    if "recall_skipped" in results:
        assert "no LoCoMo file" in results["recall_skipped"]
    else:
        assert results["recall_r_at_10"] >= results["recall_r_at_5"] >= results["recall_r_at_1"]
    if find_bindir() is None:
        assert "not found" in results["pg_skipped"]
    else:
        assert [key for key in PG_FIGURES if results.get(key) is None] == []
        assert results["pg_fsync"] == "on"
    # The Slack front end brings its bench path: its figure, and the fake Slack's own share.
    assert results["slack_overhead_ratio"] > 0
    assert "slack_skipped" not in results


def test_slack_segments_stamps_every_point_of_the_slack_path() -> None:
    """`bench/slack_segments.py` (where the Slack path's time goes) reaches every point it
    stamps: a renamed function it wraps fails it instead of printing a wrong breakdown."""
    proc = run_bench_script("slack_segments.py", "6", env=dict(os.environ), timeout=300)
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[1:]}
    points = ("start", "send", "server", "dispatch", "redelivery", "dispatched", "respond_to")
    points += ("answer", "handle", "handled", "post", "request", "api", "answered", "total")
    assert [point for point in points if float(rows.get(point, "0")) <= 0] == []
    # The turn is one segment of the path, and the path holds all of them.
    assert float(rows["total"]) > float(rows["handle"])
