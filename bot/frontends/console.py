"""The console channel: the same chat core in a terminal, interactive or piped."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from ..core.chat import ChatService
from ..core.render import render_changes, render_turn_added

PROMPT = "you> "


async def run_console(
    service: ChatService,
    user_id: str,
    *,
    show_added: bool = True,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Read lines until EOF; print each reply (and what the turn stored) to stdout."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    user_key = f"console:{user_id}"
    if interactive:
        print(
            f"Chatting as {user_key}. {service.command_prefix}help lists commands; Ctrl-D quits.",
            file=stdout,
        )
    while True:
        if interactive:
            print(PROMPT, end="", file=stdout, flush=True)
        # Reading stdin blocks, so it runs off the event loop.
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            if interactive:
                print(file=stdout)
            return
        if not line.strip():
            continue
        streamed: list[str] = []

        async def show(delta: str, streamed: list[str] = streamed) -> None:
            # Text appears as the model produces it; the finished reply is not printed again.
            print("bot> " + delta if not streamed else delta, end="", file=stdout, flush=True)
            streamed.append(delta)

        reply = await service.handle(user_key, line.rstrip("\n"), on_text=show)
        if streamed and "".join(streamed).strip() == reply.text:
            print(file=stdout)
        elif reply.text:
            if streamed:
                print(file=stdout)
            print(f"bot> {reply.text}" if not reply.is_command else reply.text, file=stdout)
        if show_added and reply.added:
            print(render_turn_added(reply.added), file=stdout)
        if reply.changes:
            print(render_changes(reply.changes, service.command_prefix), file=stdout)
        stdout.flush()
