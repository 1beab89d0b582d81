"""The console as a person (or a hostile one) uses it: real processes, a real memory file.

Ctrl-C quits at once in a terminal and in a pipe; hostile lines never end the chat; a line of
hundreds of megabytes is refused without being held in memory; an empty answer shows once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from openai_server import FakeOpenAIServer, Reply
from processes import ROOT, bot_env
from stored_turns import check_database

from bot.core.domain import UserKey, message_text
from bot.core.text import EMPTY_ANSWER
from bot.memory import SqlMemoryStore

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

ADA = UserKey.parse("console:ada")

# Generous: a start-up on a busy machine. Before the fix the process never exited at all.
EXIT_WAIT_S = 60


def console(db: Path, *, stdin: int | None, stdout: int | None, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--user", "ada", "--db", str(db)],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=bot_env(**env),
    )


def read_until(fd: int, marker: bytes) -> bytes:
    """Read a pty until `marker` appears (the prompt): the console is waiting for input."""
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], EXIT_WAIT_S)
        assert ready, f"no {marker!r} after {seen!r}"
        seen += os.read(fd, 4096)
    return seen


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("python -m bot console", 130),
        # make passes the interrupt on, waits for the bot, then dies of the signal itself.
        ("make run", -signal.SIGINT),
    ],
)
def test_ctrl_c_quits_at_once_in_a_terminal(tmp_path: Path, how: str, status: int) -> None:
    if how == "make run":
        # STAMP= skips the venv prerequisite: the bot is run by this test's own interpreter.
        command = ["make", "-s", "run", "STAMP=", f"PY={sys.executable}"]
    else:
        command = [sys.executable, "-m", "bot", "console", "--user", "ada"]
    main, child = pty.openpty()
    # Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    proc = subprocess.Popen(
        command,
        stdin=child,
        stdout=child,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=bot_env(MEMORY_DB_PATH=str(tmp_path / "m.db")),
        start_new_session=True,
    )
    os.close(child)
    try:
        banner = read_until(main, b"you> ")
        assert b"Ctrl-C quits" in banner
        os.write(main, b"My name is Ada\n")
        read_until(main, b"you> ")  # answered, and waiting again
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=EXIT_WAIT_S) == status
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(main)
    assert b"Traceback" not in proc.stderr.read()


def test_ctrl_c_quits_at_once_with_input_still_open(tmp_path: Path) -> None:
    # `make run` in a pipe or with stdin kept open: nothing is typed, nothing is closed.
    proc = console(tmp_path / "m.db", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(b"My name is Ada\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith(b"bot> Nice to meet you, Ada")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=EXIT_WAIT_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
    assert b"Traceback" not in proc.stderr.read()


HOSTILE = [
    b"\xff\xfe\xfd not utf-8 at all",
    b"nul \x00 byte \x00",
    b"\xed\xa0\x80 a surrogate encoded as bytes \xed\xbf\xbf",
    b"\x1b[31mred\x1b[0m \x1b]0;new title\x07 \x1b[2J",
    b"!history 99999999999999999999999999999999999999",
    b"!history -1",
    b"!history \xff",
    b"!" + b"x" * 3000,
    b"!help me " + b"y" * 3000,
    b"!export \x00\x01\x02",
    b"x" * 100_000,
    "\U0001f600".encode() * 5000,
    b"\r",
    b"\t \t",
    b"\xc3",
]


def town(n: int) -> str:
    return "Town" + chr(ord("a") + n % 26) + chr(ord("a") + n // 26)


def test_hostile_lines_never_end_the_chat(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    lines = []
    for n, hostile in enumerate(HOSTILE):
        lines += [hostile, f"I live in {town(n)}".encode()]
    lines.append(b"where do I live?")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--user", "ada", "--db", str(db)],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        timeout=300,
        cwd=ROOT,
        env=bot_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert b"Traceback" not in proc.stderr
    out = proc.stdout.decode()
    # Every line after a hostile one was answered ...
    for n in range(len(HOSTILE)):
        assert f"bot> Got it, I'll remember that you live in {town(n)}." in out
    assert f"bot> Your city is {town(len(HOSTILE) - 1)}." in out
    assert "That message is too long" in out
    assert "\x1b" not in out and "\x00" not in out
    # ... and stored, in order, as valid text.
    told = asyncio.run(stored_user_lines(db))
    for n in range(len(HOSTILE)):
        assert f"I live in {town(n)}" in told
    assert told.index(f"I live in {town(0)}") < told.index(f"I live in {town(14)}")
    assert all(text.encode("utf-8") for text in told)
    assert "\ufffd not utf-8 at all" in told[0]


async def stored_user_lines(db: Path) -> list[str]:
    async with SqlMemoryStore(db) as store:
        items = await store.all_items(ADA)
    return [message_text(i) for i in items if i.get("role") == "user"]


def peak_rss_of_console_fed(db: Path, line_bytes: int) -> tuple[int, bytes]:
    """Feed one line of `line_bytes` bytes and then a normal line; the child's peak RSS (KB)."""
    proc = console(db, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    block = b"z" * (1 << 20)
    try:
        for _ in range(line_bytes // len(block)):
            proc.stdin.write(block)
        proc.stdin.write(b"\nI live in Paris\n")
        proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if proc.returncode is None and proc.poll() is None:
            proc.kill()
    reader.join(EXIT_WAIT_S)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss, b"".join(out)


def test_a_300_mb_line_is_refused_without_holding_it(tmp_path: Path) -> None:
    small_rss, _ = peak_rss_of_console_fed(tmp_path / "a.db", 1 << 20)
    huge_rss, out = peak_rss_of_console_fed(tmp_path / "b.db", 300 << 20)
    text = out.decode()
    assert "bot> That message is too long (the limit is 4,000 characters)" in text
    assert "bot> Got it, I'll remember that you live in Paris." in text
    # Reading 300 MB costs no more than reading 1 MB, give or take a few buffers.
    assert huge_rss - small_rss < 64 * 1024, (small_rss, huge_rss)


def test_an_empty_model_answer_is_shown_once(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        server.enqueue(Reply("   \n  ", chunk_size=2))
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "console", "--db", str(tmp_path / "m.db")],
            input=b"hello\n",
            capture_output=True,
            timeout=120,
            cwd=ROOT,
            env=bot_env(
                OPENAI_BASE_URL=server.base_url,
                BOT_MODEL="test-model",
                SHOW_TURN_EMBED="false",
            ),
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == f"bot> {EMPTY_ANSWER}\n"


def stored_turns(db: Path) -> int:
    check_database(db)  # every stored turn is whole
    return len(asyncio.run(stored_user_lines(db)))


def test_a_reader_that_closes_early_ends_the_console_quietly(tmp_path: Path) -> None:
    # As in the issue: `yes … | head -200 | python -m bot console | head -c 10`.
    db = tmp_path / "p.db"
    script = (
        f"yes 'My name is Ada' | head -200 | {sys.executable} -m bot console --user ada --db {db} "
        '| head -c 10; code=${PIPESTATUS[2]}; echo; echo "status $code"'
    )
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=EXIT_WAIT_S * 2,
        cwd=ROOT,
        env=bot_env(),
    )
    out, status = proc.stdout.rsplit("status ", 1)
    assert out[:10] == "bot> Nice "
    assert int(status) in (141, 0), proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
    assert 1 <= stored_turns(db) < 200  # it stopped reading


def test_output_closed_mid_chat_stops_reading_and_keeps_the_turn_whole(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    proc = console(db, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(b"My name is Ada\n")
        proc.stdin.flush()
        # The whole first answer, to its last line.
        read_until(proc.stdout.fileno(), b"!forget name erases it\n")
        proc.stdout.close()  # then the reader goes away
        proc.stdin.write(b"I live in Porto\n")
        proc.stdin.flush()
        # Its input stays open: the console must notice on its own that nobody reads.
        assert proc.wait(timeout=EXIT_WAIT_S) == 141
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    assert b"Traceback" not in proc.stderr.read()
    # The turn whose reply could not be shown was stored whole, before its reply; nothing
    # after it was read.
    assert stored_turns(db) == 2
