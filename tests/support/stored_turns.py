"""What every test of stored history checks: the file is intact and every stored turn is
whole (it starts with the person's message, ends with a reply, and every tool call has its
output)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.core.domain import is_user_message


def complete_turns(items: list[dict]) -> bool:
    """Every turn starts with the user's message, ends with a reply, and has every tool call
    answered by its output."""
    if not items:
        return True
    starts = [i for i, item in enumerate(items) if is_user_message(item)]
    if not starts or starts[0] != 0:
        return False
    for begin, end in zip(starts, [*starts[1:], len(items)], strict=True):
        turn = items[begin:end]
        last = turn[-1]
        if not (last.get("role") == "assistant" and last.get("type", "message") == "message"):
            return False
        calls = {i["call_id"] for i in turn if i.get("type") == "function_call"}
        outputs = {i["call_id"] for i in turn if i.get("type") == "function_call_output"}
        if calls != outputs:
            return False
    return True


def check_database(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        sessions = [
            row[0] for row in conn.execute("SELECT DISTINCT session_id FROM agent_messages")
        ]
        for session in sessions:
            rows = conn.execute(
                "SELECT message_data FROM agent_messages WHERE session_id = ? ORDER BY id",
                (session,),
            ).fetchall()
            items = [json.loads(data) for (data,) in rows]
            assert complete_turns(items), f"incomplete turn stored for {session}"
        (count,) = conn.execute("SELECT COUNT(*) FROM agent_messages").fetchone()
    return count


def split_turns(items: list[dict]) -> list[list[dict]]:
    """Items as the turns `!history` pages hold: each starts at a message the person typed
    (the first item starts one whatever it is)."""
    turns: list[list[dict]] = []
    for position, item in enumerate(items):
        if position == 0 or is_user_message(item):
            turns.append([])
        turns[-1].append(item)
    return turns


def expected_page(items: list[dict], page: int, per_page: int) -> list[dict]:
    """The items of page `page` (1 = newest) at `per_page` whole turns a page."""
    turns = split_turns(items)
    end = len(turns) - (page - 1) * per_page
    return [item for turn in turns[max(0, end - per_page) : max(0, end)] for item in turn]
