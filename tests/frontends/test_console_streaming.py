"""Streamed answers in the console: printed as they arrive, and never printed twice (the
console in-process, reading a real pipe, with a scripted model streaming its answer)."""

from __future__ import annotations

import io
import os
from typing import TextIO

import pytest
from agents.testing import ScriptedModel, assistant_message
from chat_support import make_service

from bot.core.store import MemoryStore
from bot.core.text import MAX_REPLY_CHARS
from bot.frontends.console import run_console


def piped(*lines: str) -> TextIO:
    """A real pipe holding `lines`, read as a piped stdin is."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, "".join(f"{line}\n" for line in lines).encode())
    os.close(write_fd)
    return open(read_fd, encoding="utf-8")


@pytest.fixture
def backend() -> str:
    # What is printed does not depend on the store; the store tests cover both back ends.
    return "sqlite"


async def console_output(store: MemoryStore, model: ScriptedModel, *lines: str) -> str:
    service = make_service(store, model, stream=True)
    out = io.StringIO()
    with piped(*lines) as stdin:
        await run_console(service, "ada", show_added=False, stdin=stdin, stdout=out)
    model.assert_complete()
    return out.getvalue()


async def test_an_answer_over_the_limit_is_printed_once(store: MemoryStore) -> None:
    # 13,000 characters, and the cut at 12,000 falls on a space: what was streamed then is
    # not a prefix of the stored (cut, stripped) reply.
    answer = "word " * 2600
    assert answer[MAX_REPLY_CHARS - 1] == " "
    model = ScriptedModel([[assistant_message(answer)]])
    printed = await console_output(store, model, "tell me a long story")
    assert printed.count("bot> ") == 1, printed[-300:]
    assert printed.count("word") == MAX_REPLY_CHARS // 5
    assert printed.count("(answer cut: it was 12,999 characters; the limit is 12,000)") == 1
    # The streamed text stays as it was shown; the note follows it on its own line.
    note = "… (answer cut: it was 12,999 characters; the limit is 12,000)"
    assert printed.endswith(f"word \n{note}\n")


async def test_a_cut_answer_inside_a_code_block_is_printed_once(store: MemoryStore) -> None:
    answer = "```\n" + "x = 1  \n" * 2000 + "```\n"
    model = ScriptedModel([[assistant_message(answer)]])
    printed = await console_output(store, model, "show me code")
    assert printed.count("bot> ") == 1
    assert printed.count("x = 1") == (MAX_REPLY_CHARS - 4) // 8
    # The cut closes the code block (after what was streamed), then says so.
    note = "… (answer cut: it was 16,007 characters; the limit is 12,000)"
    assert printed.endswith(f"x = \n```\n{note}\n")


def test_rest_of_reply() -> None:
    from bot.frontends.console import rest_of_reply

    assert rest_of_reply("Hello", "Hello there") == " there"
    assert rest_of_reply("Hello ", "Hello\n… (cut)") == "\n… (cut)"
    assert rest_of_reply("Hello", "Goodbye") is None
    assert rest_of_reply("Hello world", "Hello") is None
