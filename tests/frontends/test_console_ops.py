"""The console as a real process, run for a community of one: `!config` (its operator is
its admin), `!usage`, and /healthz and /metrics served on METRICS_PORT while it runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from processes import ROOT, bot_env

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_console_serves_health_and_metrics_and_takes_config(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--user", "ada", "--db", str(tmp_path / "m.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=bot_env(METRICS_PORT=str(port)),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("!config limit turns-per-user 1\nMy name is Ada\nWhat's my name?\n")
        proc.stdin.flush()
        said = [proc.stdout.readline() for _ in range(9)]
        assert said[0].startswith("The limit is now 1 message a day per person.")
        refusal = "bot> You've reached the daily limit of 1 message "
        assert any(line.startswith(refusal) for line in said)
        status, health = fetch(f"http://127.0.0.1:{port}/healthz")
        assert (status, health) == (200, "ok\nstore: answers\nconsole: connected\n")
        status, metrics = fetch(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'memorybot_turns_total{frontend="console",outcome="ok"} 1.0' in metrics
        assert 'memorybot_turn_refusals_total{reason="daily_turns_per_user"} 1.0' in metrics
        assert "Ada" not in metrics
        proc.stdin.write("!usage\n")
        proc.stdin.flush()
        usage = [proc.stdout.readline() for _ in range(5)]
        assert usage[1] == "  today: 1 turn, 0 tokens (0 in, 0 out; 2 model requests)\n"
        assert "1 of 1 messages" in "".join(usage)
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"health and metrics at http://127.0.0.1:{port}/healthz" in err
