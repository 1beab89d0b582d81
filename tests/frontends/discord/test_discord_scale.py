"""700 members chatting at once under `ulimit -n 1024`: open descriptors stay bounded (in a
process of its own: `tests/support/fd_scale.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

MEMBERS = 700
FD_LIMIT = 1024

FD_SCALE = Path(__file__).resolve().parents[2] / "support" / "fd_scale.py"


def test_700_members_chatting_keep_open_descriptors_bounded(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(FD_SCALE),
            "discord",
            str(tmp_path / "m.db"),
            str(MEMBERS),
            str(FD_LIMIT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["fd_limit"] == FD_LIMIT
    assert figures["told_replies"] == MEMBERS and figures["told_as_expected"], figures
    assert figures["asked_replies"] == MEMBERS, figures
    # Every member got their own city back, from their own memory.
    assert figures["recalled"] == MEMBERS, figures
    # Descriptors scale with the worker threads, not with the number of members.
    assert figures["peak_fds"] - figures["fds_before"] < 100, figures
    assert figures["fds_after_close"] <= figures["fds_before"], figures
