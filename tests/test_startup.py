"""Start-up problems: one line naming what is wrong and how to fix it, a non-zero exit, and
no traceback (real processes; the network is only ever a closed port on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def run_bot(
    *args: str, cwd: Path, prefix: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "DATABASE_URL"}}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", *args],
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **env},
    )


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert proc.returncode != 0
    assert proc.stdout == ""  # nothing was answered
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    [line] = lines
    assert line.startswith("error: ")
    for part in expected:
        assert part in line
    return line


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_db_that_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "memory.db"
    folder.mkdir()
    proc = run_bot("console", "--db", str(folder), cwd=tmp_path)
    assert_one_error_line(proc, f"the memory file {folder} is a folder", "give a file path")


def test_db_that_is_not_sqlite(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("these are my notes, not a database\n" * 20)
    proc = run_bot("console", "--db", str(bad), cwd=tmp_path)
    assert_one_error_line(
        proc, f"{bad} is not a usable memory file (not SQLite, or damaged)", "move it away"
    )
    assert bad.read_text().startswith("these are my notes")  # left as it was


def test_db_with_tables_that_clash_with_ours(tmp_path: Path) -> None:
    clash = tmp_path / "other.db"
    with sqlite3.connect(clash) as conn:
        conn.execute("CREATE TABLE agent_messages (something_else TEXT)")
        conn.execute("CREATE TABLE user_facts (k TEXT)")
    proc = run_bot("console", "--db", str(clash), cwd=tmp_path)
    assert_one_error_line(
        proc, f"{clash} has a table", "made by other software", "point the bot at another"
    )


def test_db_with_a_table_dropped_outside_the_bot(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    first = run_bot("console", "--db", str(db), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE memory_items")
    proc = run_bot("console", "--db", str(db), cwd=tmp_path)
    assert_one_error_line(proc, f"{db} is missing the table memory_items", "from a backup")


def test_db_in_an_unwritable_folder(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/sys/memory.db")  # root may write anywhere else; not in sysfs
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "m.db"
    proc = run_bot("console", "--db", str(target), cwd=tmp_path)
    assert_one_error_line(proc, f"cannot create the memory file {target}", "MEMORY_DB_PATH")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_db_in_a_folder_that_is_not_writable(tmp_path: Path) -> None:
    # The file is writable, its folder is not: SQLite cannot create its journal files there.
    # Run without the capabilities that let root write anywhere, so permissions apply.
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "m.db"
    db.touch(mode=0o600)
    folder.chmod(0o500)
    proc = run_bot(
        "console",
        "--db",
        str(db),
        cwd=tmp_path,
        prefix=("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"),
    )
    line = assert_one_error_line(
        proc, f"the folder {folder} of the memory file is not writable", "make it writable"
    )
    assert "read-only" not in line


def test_unreachable_postgresql(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://bot:hunter2pass@127.0.0.1:{port}/memory"
    proc = run_bot("console", cwd=tmp_path, DATABASE_URL=url)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and "hunter2pass" not in proc.stderr
    # The last line says it (the store may log where it connects, password masked, before).
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot reach PostgreSQL at 127.0.0.1:{port} (")
    assert last.endswith("); check DATABASE_URL and that the server is running")


DISCORD_UNREACHABLE = textwrap.dedent(
    """
    import sys
    import discord.http
    from bot.__main__ import main

    # Discord's API at a closed local port: connecting fails as with no network at all.
    discord.http.Route.BASE = f"http://127.0.0.1:{sys.argv[1]}/api/v10"
    sys.exit(main(["discord"]))
    """
)


def test_discord_unreachable_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DISCORD_UNREACHABLE, str(closed_port())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": "not.a.real.token",
            "MEMORY_DB_PATH": str(tmp_path / "m.db"),
        },
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: could not reach Discord (ClientConnectorError); check this machine's internet "
        "connection (and any proxy or firewall), then start the bot again."
    ]
    # It is the last word; before it only log lines (discord.py's own notices among them).
    assert proc.stderr.strip().splitlines()[-1] == errors[0]
    assert len(proc.stderr.strip().splitlines()) < 8, proc.stderr
