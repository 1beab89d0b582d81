"""The console channel: the same chat core in a terminal, interactive or piped.

Input is read as bytes by a daemon thread in bounded chunks, so Ctrl-C ends the program at
once (nothing waits on a blocked read), a line of any length costs bounded memory, and bytes
that are not valid text in the terminal's encoding never reach the core undecoded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from ..core.admission import too_long_reply
from ..core.chat import ChatService
from ..core.domain import UserKey
from ..core.places import Place
from ..core.render import render_changes, render_turn_added

log = logging.getLogger(__name__)

PROMPT = "you> "
READ_CHUNK = 64 * 1024
# Lines waiting to be answered; the reader thread waits when this many are queued, so a huge
# piped file is never read ahead into memory.
QUEUED_LINES = 64
LINE_FAILED = "Sorry, something went wrong with that line. It has been logged; please go on."
# The terminal is one server of one channel, and its operator is its admin: `!config` sets
# the console's instructions and limits, `!config usage` shows its usage.
CONSOLE = Place("console", server="local", channel="local", admin=True)


class OutputClosed(Exception):
    """Whoever reads the console's output has gone (`… | head`): nothing more can be shown,
    so the console stops reading and ends, as `cat` or `grep` do."""


def _output_closed(exc: OSError) -> bool:
    return isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.EBADF)


class Output:
    """The console's stdout. A write or flush that finds the reader gone raises
    `OutputClosed` (once; later writes are dropped), never a BrokenPipeError traceback."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed = False

    def show(self, *parts: str, end: str = "\n", flush: bool = False) -> None:
        if self.closed:
            raise OutputClosed
        try:
            print(*parts, end=end, file=self._stream, flush=flush)
        except OSError as exc:
            if not _output_closed(exc):
                raise
            self.closed = True
            raise OutputClosed from None

    def flush(self) -> None:
        self.show(end="", flush=True)


@dataclass(frozen=True)
class Line:
    """One input line: its text, or (when it was longer than the limit) only its size."""

    text: str
    too_long: bool = False
    size: int = 0


class LineReader:
    """Lines from a file descriptor, read by a daemon thread that never holds a whole line
    longer than `max_bytes`: the rest of such a line is read and dropped, only counted."""

    def __init__(self, fd: int, max_bytes: int, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._max_bytes = max_bytes
        self._encoding = encoding
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[Line | None] = asyncio.Queue(QUEUED_LINES)
        # A daemon thread: a read blocked in it never keeps the process alive at exit.
        threading.Thread(target=self._read_all, name="console-input", daemon=True).start()

    async def next(self) -> Line | None:
        """The next line, or None at end of input."""
        return await self._lines.get()

    def _put(self, line: Line | None) -> bool:
        try:
            asyncio.run_coroutine_threadsafe(self._lines.put(line), self._loop).result()
        except (RuntimeError, concurrent.futures.CancelledError):
            return False  # the event loop is gone or going: the program is ending
        return True

    def _line(self, data: bytes | bytearray, size: int) -> Line:
        if size > self._max_bytes:
            return Line("", too_long=True, size=size)
        return Line(bytes(data).decode(self._encoding, errors="replace"))

    def _read_all(self) -> None:
        held = bytearray()  # the current line, up to max_bytes
        size = 0  # the current line's full length in bytes, dropped part included
        while True:
            try:
                chunk = os.read(self._fd, READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                if size and not self._put(self._line(held, size)):
                    return
                self._put(None)
                return
            start = 0
            while start < len(chunk):
                end = chunk.find(b"\n", start)
                piece_end = len(chunk) if end < 0 else end
                room = self._max_bytes + 1 - len(held)
                if room > 0:
                    held += chunk[start : min(piece_end, start + room)]
                size += piece_end - start
                if end < 0:
                    break
                if not self._put(self._line(held, size)):
                    return
                held, size = bytearray(), 0
                start = end + 1


def _input_encoding(stdin: TextIO) -> str:
    encoding = getattr(stdin, "encoding", None)
    return encoding if isinstance(encoding, str) and encoding else "utf-8"


async def run_console(
    service: ChatService,
    user_id: str,
    *,
    show_added: bool = True,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    notice: str | None = None,
) -> None:
    """Read lines until EOF; print each reply (and what the turn stored) to stdout. A
    `notice` (which model answers, when it is not the one asked for) opens a terminal chat.

    Raises `OutputClosed` when stdout's reader has gone: reading stops there, and the turn
    being answered was stored whole (it is committed before its reply is printed)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if hasattr(stdout, "reconfigure"):
        # A reply the terminal cannot encode shows replacement marks instead of failing.
        with contextlib.suppress(ValueError, OSError):
            stdout.reconfigure(errors="replace")
    out = Output(stdout)
    interactive = stdin.isatty() and stdout.isatty()
    user = UserKey("console", user_id)
    service.connections.connected("console")
    if interactive:
        if notice:
            out.show(f"Note: {notice}.")
        out.show(
            f"Chatting as {user}. {service.syntax('help')} lists commands; Ctrl-D or Ctrl-C quits."
        )
    # UTF-8 takes at most 4 bytes a character: anything longer is refused unread.
    max_chars = service.config.max_input_chars
    reader = LineReader(stdin.fileno(), max_chars * 4, _input_encoding(stdin))
    while True:
        if interactive:
            out.show(PROMPT, end="", flush=True)
        line = await reader.next()
        if line is None:
            if interactive:
                out.show()
            return
        try:
            await answer_line(service, user, line, out, show_added=show_added)
        except OutputClosed:
            raise
        except Exception:
            # One bad line must never end the chat: say so, log it, read the next one.
            log.exception("answering a console line failed")
            out.show(f"bot> {LINE_FAILED}")
        out.flush()


def rest_of_reply(streamed: str, reply: str) -> str | None:
    """What is left to print of `reply` once `streamed` is on the screen: None when the
    streamed text is not the start of the reply (it was replaced). Text that differs only
    in whitespace where the streamed text ends (a reply cut at the limit is stripped there
    before its note) still counts as the start."""
    common = os.path.commonprefix([streamed, reply])
    if streamed[len(common) :].strip():
        return None
    return reply[len(common) :]


async def answer_line(
    service: ChatService, user: UserKey, line: Line, out: Output, *, show_added: bool
) -> None:
    """Answer one line: refuse it if too long, else a command or a turn, streamed if possible."""
    if line.too_long:
        # Refused unread, so only the limit is known, not the length.
        out.show(f"bot> {too_long_reply(service.config.max_input_chars)}")
        return
    if not line.text.strip():
        return
    shown: list[str] = []

    async def show(delta: str) -> None:
        # Text appears as the model produces it; leading blanks wait for real text, so an
        # empty answer prints nothing here and its placeholder is shown once, below. Once
        # the output is gone nothing more is shown; the turn still completes and is stored.
        if not shown:
            delta = delta.lstrip()
            if not delta:
                return
        if out.closed:
            return
        with contextlib.suppress(OutputClosed):
            out.show("bot> " + delta if not shown else delta, end="", flush=True)
        shown.append(delta)

    reply = await service.handle(user, line.text.rstrip("\r\n"), on_text=show, place=CONSOLE)
    streamed = "".join(shown)
    if not reply.text and not streamed:
        return  # refused quietly (a repeat while throttled): nothing to show
    rest = rest_of_reply(streamed, reply.text) if streamed else None
    if rest is not None:
        out.show(rest)
    else:
        if streamed:
            out.show()
        out.show(f"bot> {reply.text}" if not reply.is_command else reply.text)
    if show_added and reply.added:
        out.show(render_turn_added(reply.added))
    if reply.changes:
        out.show(render_changes(reply.changes, service.syntax))
