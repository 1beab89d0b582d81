"""The console channel end to end: real processes, a real file, the offline model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import console

# Real processes (and servers): skipped by `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def chat(db: Path, user: str, *lines: str, args: tuple[str, ...] = ()) -> str:
    return console(*lines, user=user, db=db, args=args).stdout


def test_remember_then_recall_in_a_new_process(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    first = chat(db, "ada", "My name is Ada and I live in Lisbon")
    assert "Ada" in first and "Lisbon" in first
    assert 'save_facts(name="Ada", city="Lisbon")' in first  # the added-to-history block

    second = chat(db, "ada", "What's my city?")
    assert "bot> Your city is Lisbon." in second
    # The answer came from a tool call, shown with its output.
    assert "[tool] read_facts() -> " in second and '"city": "Lisbon"' in second

    history = chat(db, "ada", "!history")
    assert "name: Ada" in history and "city: Lisbon" in history
    assert "[you] My name is Ada and I live in Lisbon" in history
    assert "[you] What's my city?" in history
    assert 'save_facts(name="Ada", city="Lisbon") -> {"saved"' in history
    assert "page 1 of 1" in history

    forgot = chat(db, "ada", "!forget", "What's my city?")
    assert "erased" in forgot
    assert "I don't know your city" in forgot
    assert "Lisbon" not in forgot.split("erased", 1)[1].split("\n", 1)[1]


def test_a_second_user_never_sees_the_first_users_facts(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    chat(db, "ada", "I'm Ada from Lisbon")
    other = chat(db, "bob", "What do you know about me?", "!history")
    assert "Ada" not in other and "Lisbon" not in other
    assert "(nothing remembered)" in other


def test_plain_python_m_bot_falls_back_to_console(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "SLACK_BOT_TOKEN"}}
    env["MEMORY_DB_PATH"] = str(tmp_path / "m.db")
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        input="call me Zoë\nwhat's my name?\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Neither DISCORD_TOKEN nor SLACK_BOT_TOKEN is set" in proc.stderr
    assert "Your name is Zoë." in proc.stdout


def test_discord_without_token_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "discord"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "DISCORD_TOKEN" in proc.stderr


def test_bad_setting_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HISTORY_WINDOW": "lots"},
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "HISTORY_WINDOW" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_prints_the_users_data_as_json(tmp_path: Path) -> None:
    import json

    db = tmp_path / "memory.db"
    chat(db, "ada", "call me Ada")
    out = chat(db, "ada", "!export", args=())
    data = json.loads(out)
    assert data["user"] == "console:ada"
    assert data["facts"]["name"]["value"] == "Ada"
    assert data["history"][0] == {"content": "call me Ada", "role": "user"}


def test_a_piped_file_is_not_rate_limited_but_long_lines_are_refused(tmp_path: Path) -> None:
    lines = [f"I live in Town{chr(ord('a') + n % 26)}{chr(ord('a') + n // 26)}" for n in range(30)]
    out = chat(tmp_path / "m.db", "ada", *lines, "x" * 5000, "where do I live?")
    assert "slow down" not in out
    assert out.count("bot> Got it, I'll remember that you live in") == 30
    assert "That message is too long (5,000 characters; the limit is 4,000 characters)" in out
    assert f"bot> Your city is {lines[-1].removeprefix('I live in ')}." in out


def test_search_finds_what_was_said_long_ago_with_its_date(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    chat(
        db, "ada", "remember that my sister's wedding is in Sintra", *[f"hi {n}" for n in range(15)]
    )
    out = chat(db, "ada", "!search wedding Sintra", "what did I say about the wedding?")
    assert 'What you said that matches "wedding Sintra"' in out
    assert "  [you, 20" in out and "remember that my sister's wedding is in Sintra" in out
    assert "bot> On " in out and "you said: “remember that my sister's wedding is in Sintra”" in out
    assert "nothing you said" in chat(db, "bob", "!search wedding")  # Ada's, not Bob's
