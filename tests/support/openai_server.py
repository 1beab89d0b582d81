"""A scripted fake OpenAI server over real HTTP on 127.0.0.1, for tests.

It speaks enough of the Chat Completions API (``POST /v1/chat/completions``) and of the
Responses API (``POST /v1/responses``) for the Agents SDK's real models driven by the real
``openai.AsyncOpenAI`` client: JSON replies, SSE streaming (``"stream": true`` in the body),
function tool calls, usage, and OpenAI-style error bodies.

Each test scripts the model as a queue of steps::

    with FakeOpenAIServer() as server:
        server.enqueue(
            ToolCall("get_city", {}),
            lambda body: Reply(f"You live in {tool_outputs(body)[0]}."),
        )
        client = AsyncOpenAI(base_url=server.base_url, api_key="test-key")
        ...
        assert server.requests[1].body["messages"][-1]["content"] == "Lisbon"

Every model request pops the next step; a request with no step left gets a 500 whose message
says so. Every request (model or not) is recorded in :attr:`FakeOpenAIServer.requests`.
Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias

__all__ = [
    "FakeOpenAIServer",
    "Hang",
    "Raw",
    "RecordedRequest",
    "Reply",
    "Status",
    "Step",
    "ToolCall",
    "tool_outputs",
]

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"


@dataclass
class Reply:
    """An assistant text message.

    When streamed, the text is sent in ``chunk_size``-character deltas, with ``delay`` seconds
    between them (0 by default), so a long reply arrives as several deltas.
    """

    text: str
    chunk_size: int = 20
    delay: float = 0.0


@dataclass
class ToolCall:
    """One function tool call; ``call_id`` is made unique per server when ``None``."""

    name: str
    arguments: dict[str, Any]
    call_id: str | None = None


@dataclass
class Status:
    """An HTTP error with an OpenAI-style JSON error body, e.g. ``Status(429, headers=...)``."""

    code: int
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Raw:
    """Any HTTP answer at all, e.g. ``Raw(200, "text/html", "<html>…")``: a URL that is not
    an OpenAI-compatible server (a web page, a proxy's login form)."""

    code: int
    content_type: str
    body: str


@dataclass
class Hang:
    """Accept the request and send nothing for ``seconds``, then drop the connection.

    The wait also ends early when the server stops or the client disconnects.
    """

    seconds: float = 30.0


Step: TypeAlias = "Reply | ToolCall | list[ToolCall] | Status | Raw | Hang | Callable[[dict], Step]"
"""A scripted model turn; a callable gets the parsed request body and returns a step."""


@dataclass
class RecordedRequest:
    """One request the server received. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def tool_outputs(body: dict[str, Any]) -> list[str]:
    """The tool outputs carried by a request body, oldest first, for either API.

    Chat Completions sends them as ``{"role": "tool", "content": ...}`` messages; the
    Responses API as ``{"type": "function_call_output", "output": ...}`` input items.
    """
    found: list[str] = []
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "tool":
            found.append(_as_text(message.get("content")))
    items = body.get("input")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                found.append(_as_text(item.get("output")))
    return found


def _as_text(value: Any) -> str:
    """Flatten a string or a list of content parts into plain text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in value
        )
    return "" if value is None else json.dumps(value)


_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout_error", None),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(code: int, message: str) -> dict[str, Any]:
    """OpenAI's JSON error shape for an HTTP status."""
    kind, error_code = _ERROR_KINDS.get(code, ("server_error" if code >= 500 else "error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": error_code}}


def _chunks(text: str, size: int) -> list[str]:
    """Split ``text`` into pieces of ``size`` characters (at least one piece)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _tokens(text: str) -> int:
    """A rough token count, enough for plausible usage numbers."""
    return max(1, len(text) // 4)


@dataclass
class _Call:
    """A tool call with its ids resolved."""

    item_id: str
    call_id: str
    name: str
    arguments: str


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding a back-reference to its :class:`FakeOpenAIServer`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients going away; report anything else."""
        if not self.fake._stopping.is_set():
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes one connection's requests to the fake server."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr logging."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self.server.fake._handle(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def read_body(self) -> bytes:
        """The raw request body (Content-Length or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class FakeOpenAIServer:
    """A scripted OpenAI-compatible HTTP server on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        # Set once the first request has been recorded: tests wait on it instead of polling.
        self.received = threading.Event()
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind a free port on 127.0.0.1 and serve from a daemon thread."""
        if self._httpd is not None:
            return
        self._stopping.clear()
        self._httpd = _Server(self)
        port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai-{port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, end any :class:`Hang` at once and drop every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- script ----------------------------------------------------------------------------

    def enqueue(self, *steps: Step) -> None:
        """Append steps to the script; each model request consumes one."""
        with self._lock:
            self._steps.extend(steps)

    def remaining(self) -> int:
        """How many scripted steps have not been consumed yet."""
        with self._lock:
            return len(self._steps)

    # -- internals -------------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def _handle(self, handler: _Handler) -> None:
        raw = handler.read_body()
        path = handler.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in handler.headers.items()}
        try:
            parsed = json.loads(raw) if raw.strip() else {}
            body: dict[str, Any] = parsed if isinstance(parsed, dict) else {"_json": parsed}
            bad_json = None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            body, bad_json = {"_raw": raw.decode("utf-8", "replace")}, str(exc)
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, path, headers, body))
        self.received.set()

        if path not in (CHAT_PATH, RESPONSES_PATH) or handler.command != "POST":
            message = f"fake OpenAI server: no route for {handler.command} {path}"
            self._send_json(handler, 404, error_body(404, message))
            return
        if bad_json is not None:
            self._send_json(handler, 400, error_body(400, f"invalid JSON body: {bad_json}"))
            return

        with self._lock:
            step: Step | None = self._steps.popleft() if self._steps else None
        if step is None:
            message = (
                f"fake OpenAI server: no scripted step left for request "
                f"#{len(self.requests)} ({path})"
            )
            self._send_json(handler, 500, error_body(500, message))
            return
        try:
            resolved = self._resolve(step, body)
        except Exception as exc:  # a broken script should fail loudly, not hang the client
            message = f"fake OpenAI server: scripted step raised {exc!r}"
            self._send_json(handler, 500, error_body(500, message))
            return

        if isinstance(resolved, Status):
            self._send_json(
                handler,
                resolved.code,
                error_body(resolved.code, resolved.message),
                resolved.headers,
            )
        elif isinstance(resolved, Raw):
            data = resolved.body.encode()
            handler.send_response(resolved.code)
            handler.send_header("Content-Type", resolved.content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        elif isinstance(resolved, Hang):
            self._hang(handler, resolved.seconds)
        else:
            self._answer(handler, path, body, resolved)

    def _resolve(
        self, step: Step, body: dict[str, Any]
    ) -> Reply | list[ToolCall] | Status | Raw | Hang:
        """Call callables (up to a sane depth) and normalise tool calls to a list."""
        for _ in range(10):
            if isinstance(step, ToolCall):
                return [step]
            if isinstance(step, Reply | Status | Raw | Hang):
                return step
            if isinstance(step, list) and all(isinstance(s, ToolCall) for s in step) and step:
                return list(step)
            if callable(step):
                step = step(body)
                continue
            break
        raise TypeError(f"not a valid step: {step!r}")

    def _hang(self, handler: _Handler, seconds: float) -> None:
        """Say nothing until the time is up, the server stops or the client goes away."""
        handler.close_connection = True
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self._client_gone(handler.connection, min(left, 0.05)):
                break

    @staticmethod
    def _client_gone(conn: socket.socket, wait: float) -> bool:
        try:
            readable, _, _ = select.select([conn], [], [], wait)
            return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # -- rendering -------------------------------------------------------------------------

    def _send_json(
        self,
        handler: _Handler,
        code: int,
        payload: dict[str, Any],
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "Error"
        handler.send_response(code, reason)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-request-id", self._next_id("req"))
        for name, value in (extra_headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()

    def _send_sse(self, handler: _Handler, events: Iterator[tuple[bytes, float]]) -> None:
        """Stream SSE frames with chunked transfer encoding; each frame is flushed."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("x-request-id", self._next_id("req"))
        handler.end_headers()
        for frame, delay in events:
            if delay > 0 and self._stopping.wait(delay):
                handler.close_connection = True
                return
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def _calls(self, calls: list[ToolCall]) -> list[_Call]:
        return [
            _Call(
                item_id=self._next_id("fc"),
                call_id=call.call_id or self._next_id("call"),
                name=call.name,
                arguments=json.dumps(call.arguments),
            )
            for call in calls
        ]

    def _answer(
        self,
        handler: _Handler,
        path: str,
        body: dict[str, Any],
        step: Reply | list[ToolCall],
    ) -> None:
        model = str(body.get("model") or "fake-model")
        stream = body.get("stream") is True
        calls = self._calls(step) if isinstance(step, list) else []
        text = step.text if isinstance(step, Reply) else None
        out = text if text is not None else "".join(c.name + c.arguments for c in calls)
        prompt_tokens = _tokens(json.dumps(body))
        completion_tokens = _tokens(out)
        if path == CHAT_PATH:
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            if stream:
                self._send_sse(handler, self._chat_stream(model, step, calls, usage))
            else:
                self._send_json(handler, 200, self._chat_json(model, text, calls, usage))
        else:
            usage = {
                "input_tokens": prompt_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt_tokens + completion_tokens,
            }
            if stream:
                self._send_sse(handler, self._responses_stream(model, body, step, calls, usage))
            else:
                response = self._response_object(model, body, "completed", usage)
                if text is not None:
                    response["output"] = [self._message_item(self._next_id("msg"), text)]
                else:
                    response["output"] = [self._call_item(c) for c in calls]
                self._send_json(handler, 200, response)

    # Chat Completions

    def _chat_json(
        self, model: str, text: str | None, calls: list[_Call], usage: dict[str, int]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in calls
            ]
        return {
            "id": self._next_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }

    def _chat_stream(
        self,
        model: str,
        step: Reply | list[ToolCall],
        calls: list[_Call],
        usage: dict[str, int],
    ) -> Iterator[tuple[bytes, float]]:
        completion_id = self._next_id("chatcmpl")
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
                **extra,
            }
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        if isinstance(step, Reply):
            yield chunk({"role": "assistant", "content": ""}), 0.0
            for i, piece in enumerate(_chunks(step.text, step.chunk_size)):
                yield chunk({"content": piece}), step.delay if i else 0.0
            finish = "stop"
        else:
            for index, c in enumerate(calls):
                opening = {
                    "index": index,
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": ""},
                }
                role = {"role": "assistant"} if index == 0 else {}
                yield chunk({**role, "tool_calls": [opening]}), 0.0
                for piece in _chunks(c.arguments, 20):
                    yield (
                        chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                        0.0,
                    )
            finish = "tool_calls"
        yield chunk({}, finish, usage=usage), 0.0
        yield b"data: [DONE]\n\n", 0.0

    # Responses API

    def _response_object(
        self, model: str, body: dict[str, Any], status: str, usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "id": self._next_id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": model,
            "output": [],
            "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
            "tool_choice": body.get("tool_choice") or "auto",
            "tools": body.get("tools") or [],
            "instructions": body.get("instructions"),
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "previous_response_id": body.get("previous_response_id"),
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": usage,
        }

    @staticmethod
    def _message_item(item_id: str, text: str | None, status: str = "completed") -> dict[str, Any]:
        content = (
            [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
            if text is not None
            else []
        )
        return {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }

    @staticmethod
    def _call_item(
        c: _Call, arguments: str | None = None, status: str = "completed"
    ) -> dict[str, Any]:
        return {
            "id": c.item_id,
            "type": "function_call",
            "call_id": c.call_id,
            "name": c.name,
            "arguments": c.arguments if arguments is None else arguments,
            "status": status,
        }

    def _responses_stream(
        self,
        model: str,
        body: dict[str, Any],
        step: Reply | list[ToolCall],
        calls: list[_Call],
        usage: dict[str, Any],
    ) -> Iterator[tuple[bytes, float]]:
        sequence = itertools.count()
        response = self._response_object(model, body, "in_progress", None)

        def event(kind: str, delay: float = 0.0, **fields: Any) -> tuple[bytes, float]:
            payload = {"type": kind, "sequence_number": next(sequence), **fields}
            frame = f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()
            return frame, delay

        yield event("response.created", response=dict(response))
        yield event("response.in_progress", response=dict(response))
        output: list[dict[str, Any]] = []
        if isinstance(step, Reply):
            item_id = self._next_id("msg")
            where = {"item_id": item_id, "output_index": 0}
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event(
                "response.output_item.added",
                output_index=0,
                item=self._message_item(item_id, None, "in_progress"),
            )
            yield event("response.content_part.added", **where, content_index=0, part=part)
            for i, piece in enumerate(_chunks(step.text, step.chunk_size)):
                yield event(
                    "response.output_text.delta",
                    step.delay if i else 0.0,
                    **where,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done", **where, content_index=0, text=step.text, logprobs=[]
            )
            yield event(
                "response.content_part.done",
                **where,
                content_index=0,
                part={**part, "text": step.text},
            )
            item = self._message_item(item_id, step.text)
            yield event("response.output_item.done", output_index=0, item=item)
            output.append(item)
        else:
            for index, c in enumerate(calls):
                where = {"item_id": c.item_id, "output_index": index}
                yield event(
                    "response.output_item.added",
                    output_index=index,
                    item=self._call_item(c, "", "in_progress"),
                )
                for piece in _chunks(c.arguments, 20):
                    yield event("response.function_call_arguments.delta", **where, delta=piece)
                yield event(
                    "response.function_call_arguments.done",
                    **where,
                    name=c.name,
                    arguments=c.arguments,
                )
                item = self._call_item(c)
                yield event("response.output_item.done", output_index=index, item=item)
                output.append(item)
        yield event(
            "response.completed",
            response={**response, "status": "completed", "output": output, "usage": usage},
        )
