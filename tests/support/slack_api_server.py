"""A fake Slack on 127.0.0.1 for the Slack tests: the Web API, file uploads, response URLs and
the Socket Mode WebSocket, as a real aiohttp server that records every call with its body.

`SignedSender` is the other direction: requests to the bot signed exactly as Slack signs them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0TEAM"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
WAIT_S = 20.0
_EVENT_IDS = itertools.count(1)


@dataclass
class Call:
    """One request the bot made: the method (or "upload", "response_url") and its body."""

    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 200
    error: str | None = None  # Slack's error code when it answered ok: false
    at: float = field(default_factory=time.monotonic)
    answer: dict[str, Any] = field(default_factory=dict)  # what the fake answered

    def texts(self) -> list[str]:
        """Every piece of text this call would show: the message text and each block's."""
        texts = [self.body["text"]] if isinstance(self.body.get("text"), str) else []
        for block in self.body.get("blocks") or []:
            if "text" in block:
                texts.append(block["text"]["text"])
            texts += [element["text"] for element in block.get("elements", [])]
        return texts


def _decode(raw: bytes, content_type: str, query: dict[str, str]) -> dict[str, Any]:
    """The call's arguments: the SDK sends some in the query string, some as a form or JSON."""
    body: dict[str, Any] = dict(query)
    if raw and content_type.startswith("application/json"):
        body.update(json.loads(raw))
    elif raw:
        body.update(parse_qsl(raw.decode(), keep_blank_values=True))
    for key in ("blocks", "files"):
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return body


@dataclass
class FakeSlackAPI:
    """The Web API at `api_url`, serving the methods the bot uses. `fail_next` answers the
    next calls of a method with an HTTP error (429 with Retry-After by default)."""

    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    # users.info: the workspace's admins and owners (everyone else is a plain member).
    admins: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)
    acks: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    _ok: dict[str, list[Call]] = field(default_factory=dict)  # successful calls by method
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _socket: web.WebSocketResponse | None = None
    base: str = ""

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    @property
    def response_url(self) -> str:
        return f"{self.base}/response/1"

    async def __aenter__(self) -> FakeSlackAPI:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # users.info and other reads
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_get("/socket", self._websocket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        assert self._runner is not None
        await self._runner.cleanup()

    # --- what the tests use --------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        error: str = "ratelimited",
        times: int = 1,
        **headers: str,
    ) -> None:
        """Answer the next `times` calls of `method` with `error` (HTTP `status`; Slack sends
        most errors with 200 and a 429 with Retry-After)."""
        headers = headers or ({"Retry-After": "0"} if status == 429 else {})
        self._failures.setdefault(method, []).extend([(status, error, headers)] * times)

    def of(self, method: str) -> list[Call]:
        """The successful calls of one method, oldest first."""
        return [c for c in self.calls if c.method == method and c.status == 200 and c.error is None]

    def hold_next(self, method: str) -> asyncio.Event:
        """The next call of `method` is recorded at once but answered only when the returned
        event is set: a slow Slack."""
        release = asyncio.Event()
        self._holds[method] = release
        return release

    def count(self, method: str) -> int:
        return len(self._ok.get(method, ()))

    def failed(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.status, c.error) != (200, None)]

    async def wait_for(self, method: str, count: int = 1) -> list[Call]:
        """Wait until `count` successful calls of `method` arrived; returns them all."""
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self._ok.get(method, ())) >= count), WAIT_S
            )
        # The method's own list (not a scan of every call: the bench makes thousands).
        return list(self._ok[method])

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), WAIT_S)

    async def send_envelope(self, payload: dict[str, Any], kind: str = "events_api") -> str:
        """Push one Socket Mode envelope to the connected bot; returns its envelope id."""
        await self.wait_until(lambda: self._socket is not None)
        assert self._socket is not None
        envelope_id = f"env-{next(self._ts)}"
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    # --- handlers ------------------------------------------------------------------------

    async def _record(self, call: Call) -> None:
        assert self._changed is not None
        async with self._changed:
            self.calls.append(call)
            if call.status == 200 and call.error is None:
                self._ok.setdefault(call.method, []).append(call)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        body = _decode(raw, request.content_type, dict(request.query))
        headers = dict(request.headers)
        pending = self._failures.get(method)
        if pending:
            status, error, extra = pending.pop(0)
            await self._record(Call(method, body, headers, status, error))
            return web.json_response({"ok": False, "error": error}, status=status, headers=extra)
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if headers.get("Authorization") != f"Bearer {expected}":
            await self._record(Call(method, body, headers, 200, "invalid_auth"))
            return web.json_response({"ok": False, "error": "invalid_auth"})
        answer = {"ok": True, **self._answer(method, body)}
        await self._record(Call(method, body, headers, answer=answer))
        if method in self._holds:
            await self._holds.pop(method).wait()
        return web.json_response(answer)

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if method == "auth.test":
            return {
                "url": "https://test.example/",
                "team": "Test Team",
                "user": "memorybot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
        if method == "chat.postMessage":
            return {"channel": body.get("channel"), "ts": ts, "message": {"text": body.get("text")}}
        if method == "chat.update":
            return {"channel": body.get("channel"), "ts": body.get("ts")}
        if method == "chat.postEphemeral":
            return {"message_ts": ts}
        if method == "users.info":
            user = str(body.get("user"))
            return {
                "user": {
                    "id": user,
                    "team_id": TEAM_ID,
                    "name": user.lower(),
                    "is_admin": user in self.admins or user in self.owners,
                    "is_owner": user in self.owners,
                    "is_bot": False,
                }
            }
        if method == "conversations.open":
            return {"channel": {"id": f"D{body.get('users')}"}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return {"upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return {"files": [{"id": f["id"], "title": f.get("title")} for f in body["files"]]}
        if method == "apps.connections.open":
            return {"url": f"ws{self.base.removeprefix('http')}/socket"}
        return {}

    async def _upload(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.uploads[request.match_info["file_id"]] = raw
        await self._record(Call("upload", {"file_id": request.match_info["file_id"]}, {}))
        return web.Response(text=f"OK - {len(raw)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        await self._record(Call("response_url", await request.json(), dict(request.headers)))
        return web.Response(text="ok")

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1})
        assert self._changed is not None
        async with self._changed:
            self._socket = socket
            self._changed.notify_all()
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.acks.append(json.loads(message.data))
                    self._changed.notify_all()
        async with self._changed:
            if self._socket is socket:
                self._socket = None  # a restarted bot connects again
            self._changed.notify_all()
        return socket


class SignedSender:
    """Requests to the bot's /slack/events, signed with the signing secret as Slack does."""

    def __init__(self, url: str, secret: str = SIGNING_SECRET) -> None:
        self.url = url
        self.verifier = SignatureVerifier(secret)
        self.session = aiohttp.ClientSession()
        self.sent: list[tuple[dict[str, str], str, int]] = []  # headers, body, status
        self._ids = _EVENT_IDS  # unique across senders, as Slack's are

    async def aclose(self) -> None:
        await self.session.close()

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature
            or self.verifier.generate_signature(timestamp=stamp, body=body),
            **(headers or {}),
        }
        async with self.session.post(self.url, data=body, headers=all_headers) as response:
            self.sent.append((all_headers, body, response.status))
            return response.status

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "unused-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": "A0APP",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(self._ids):08d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            }
        )

    async def event(self, event: dict[str, Any], event_id: str | None = None, **kw: Any) -> int:
        return await self.post(self.event_body(event, event_id), "application/json", **kw)

    async def command(
        self, user: str, text: str, response_url: str, channel: str = "C0GENERAL", **kw: Any
    ) -> int:
        form = {
            "token": "unused-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/memory",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": f"trigger-{next(self._ids)}",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)


def dm(user: str, text: str, ts: str | None = None, **fields: Any) -> dict[str, Any]:
    """A direct message to the bot, as the `message` event Slack sends."""
    return {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts or f"{time.time():.6f}",
        "team": TEAM_ID,
        **fields,
    }


def mention(user: str, text: str, channel: str = "C0GENERAL", **fields: Any) -> dict[str, Any]:
    """An @mention of the bot in a channel (`app_mention`)."""
    return {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": f"{time.time():.6f}",
        "team": TEAM_ID,
        **fields,
    }


def events_api(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """The payload of a Socket Mode `events_api` envelope."""
    return {
        "team_id": TEAM_ID,
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1,
    }
