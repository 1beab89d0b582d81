"""The bot as a real process, as people start it: `python -m bot console` fed lines on stdin,
and `python -m bot migrate` started several times at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Settings a developer may have exported that must not change what a test's process sees.
_OUTSIDE = {
    "DISCORD_TOKEN",
    "SLACK_BOT_TOKEN",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "DATABASE_URL",
}


def bot_env(**extra: str) -> dict[str, str]:
    """This process's environment without tokens, model or database settings, with the
    project importable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def console(
    *lines: str,
    user: str = "ada",
    db: Path | None = None,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    cwd: Path = ROOT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot [args] console --user USER [--db DB]` with `lines` piped in; with
    `check`, it must exit 0 without a traceback."""
    command = [sys.executable, "-m", "bot", *args, "console", "--user", user]
    if db is not None:
        command += ["--db", str(db)]
    proc = subprocess.run(
        command,
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env if env is not None else bot_env(),
    )
    if check:
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    return proc


def migrate_at_once(count: int, env: dict[str, str], cwd: Path) -> list[str]:
    """`python -m bot migrate` started `count` times at once; each must succeed. Returns
    what each wrote to stderr."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "migrate"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    said = []
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        said.append(err)
    return said
