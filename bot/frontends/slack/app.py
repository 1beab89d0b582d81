"""The Slack app: one Bolt `AsyncApp` over the chat service, and how it runs.

With SLACK_APP_TOKEN it connects by Socket Mode (no public URL needed); otherwise it serves
HTTP at /slack/events on SLACK_PORT, where Bolt verifies every request's signature with
SLACK_SIGNING_SECRET (a bad or stale one gets 401 and runs nothing). Web API calls go to
SLACK_API_URL through the SDK's client and its retry handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt import BoltResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from ...core.chat import ChatService
from ...core.observe import Connections
from ...settings import Settings, SettingsError
from .listeners import register_listeners
from .replies import SlackChat, slack_error

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# In HTTP mode Slack must reach the bot (through a tunnel or proxy): listen on every interface.
HTTP_HOST = "0.0.0.0"
# Event ids remembered to drop Slack's redeliveries of an event already being answered.
SEEN_EVENTS = 10_000
# Under the SDK's own logger: `slack_sdk`'s level (set at start-up) applies to it.
WEB_API_LOGGER = "slack_sdk.web.memory_chat_bot"


def web_api_logger() -> logging.Logger:
    """The Web API client's logger, its level set to what is logged now.

    The SDK tests `logger.level`, not the effective level: with its logger left NOTSET it
    formats a debug line of every request and response (headers, body) and then drops it.
    """
    logger = logging.getLogger(WEB_API_LOGGER)
    # The parent's level: this logger's own is already set from the second client on.
    parent = logger.parent or logging.getLogger()
    logger.setLevel(parent.getEffectiveLevel())
    return logger


def web_client(
    settings: Settings, *, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The SDK's Web API client for SLACK_API_URL: rate limits (429) are retried after
    Retry-After, dropped connections and 500/503 once."""
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
        session=session,
        logger=web_api_logger(),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=1),
        ],
    )


class RedeliveryFilter(AsyncMiddleware):
    """Global middleware: an event runs once however often Slack delivers it.

    Slack redelivers an event (with X-Slack-Retry-Num) when it thinks the first delivery
    failed; answering each copy would run the same turn twice. Events are keyed by `event_id`.
    A middleware class, not a function: Bolt calls it as it is, without building the keyword
    arguments a function middleware is given on every request.
    """

    def __init__(self, size: int = SEEN_EVENTS) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt passes it by this name
    ) -> BoltResponse | None:
        body = req.body
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if isinstance(event_id, str):
            if event_id in self._seen:
                retry = req.headers.get("x-slack-retry-num", ["?"])[0]
                log.info("Slack redelivered event %s (retry %s): already handled", event_id, retry)
                return BoltResponse(status=200, body="")
            self._seen[event_id] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return await next()


def create_app(settings: Settings, chat: ChatService, *, client: AsyncWebClient) -> AsyncApp:
    """The Bolt app answering over `chat`; Web API calls go through `client`."""
    app = AsyncApp(
        name="memory-chat-bot",
        client=client,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else ""
        ),
        # Acknowledge at once and answer after: a turn can take longer than Slack's 3 s.
        process_before_response=False,
        # Assistant threads and workflow functions are not used: their middleware would run
        # on every request for nothing.
        attaching_conversation_kwargs_enabled=False,
        attaching_function_token_enabled=False,
    )
    app.use(RedeliveryFilter())
    register_listeners(app, SlackChat(settings, chat))
    return app


@contextlib.asynccontextmanager
async def slack_app(settings: Settings, chat: ChatService) -> AsyncIterator[AsyncApp]:
    """The app with a Web API client whose connections are reused and closed at the end."""
    async with aiohttp.ClientSession() as session:
        yield create_app(settings, chat, client=web_client(settings, session=session))


@contextlib.asynccontextmanager
async def serve_http(app: AsyncApp, *, host: str, port: int) -> AsyncIterator[str]:
    """Serve the app's /slack/events over HTTP; yields its URL (port 0: a free port)."""
    # No access log: Slack calls on every event, and failures are logged where they happen.
    runner = web.AppRunner(app.web_app(path=EVENTS_PATH, port=port), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}{EVENTS_PATH}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def socket_mode(app: AsyncApp, app_token: str) -> AsyncIterator[AsyncSocketModeHandler]:
    """Connected to Slack by Socket Mode (the WebSocket URL comes from apps.connections.open)."""
    handler = AsyncSocketModeHandler(app, app_token)
    await handler.connect_async()
    try:
        yield handler
    finally:
        await handler.close_async()


def check_settings(settings: Settings) -> None:
    """One line naming what is missing, before anything starts."""
    if not settings.slack_bot_token:
        raise SettingsError("SLACK_BOT_TOKEN is not set; put it in .env or the environment.")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is not set: it is needed to serve HTTP (or set "
            "SLACK_APP_TOKEN to use Socket Mode)."
        )


async def verify_token(client: AsyncWebClient) -> str:
    """Who the bot is (auth.test); a rejected token or an unreachable API is one line."""
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        error = slack_error(exc)
        raise SettingsError(
            f"Slack rejected SLACK_BOT_TOKEN ({error}); copy the Bot User OAuth Token again."
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SettingsError(
            f"could not reach the Slack Web API at SLACK_API_URL ({type(exc).__name__})."
        ) from None
    return f"{identity.get('user')} in {identity.get('team')}"


async def serve_slack(
    settings: Settings, chat: ChatService, stop: asyncio.Event, *, host: str = HTTP_HOST
) -> None:
    """Answer Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP on SLACK_PORT) until `stop`
    is set; a rejected token or an unreachable API is one line."""
    check_settings(settings)
    async with slack_app(settings, chat) as app:
        who = await verify_token(app.client)
        connections = chat.connections
        try:
            if settings.slack_app_token:
                token = settings.slack_app_token.get_secret_value()
                async with socket_mode(app, token) as handler:
                    watch_socket(handler, connections)
                    connections.connected("slack")
                    log.info("Slack: connected by Socket Mode as %s", who)
                    await stop.wait()
            else:
                async with serve_http(app, host=host, port=settings.slack_port) as url:
                    # Slack reaches us: serving is being connected (the token was just checked).
                    connections.connected("slack")
                    log.info("Slack: %s serving events at %s", who, url)
                    await stop.wait()
        finally:
            connections.disconnected("slack", "stopped")
    log.info("Slack bot stopped")


def watch_socket(handler: AsyncSocketModeHandler, connections: Connections) -> None:
    """Socket Mode's connection state for /healthz: closed until the next message arrives
    (the SDK reconnects by itself and Slack greets each new connection)."""

    async def closed(_message: Any) -> None:
        connections.disconnected("slack", "Socket Mode connection closed (reconnecting)")

    async def arrived(_message: Any) -> None:
        connections.connected("slack")

    handler.client.on_close_listeners.append(closed)
    handler.client.on_message_listeners.append(arrived)
