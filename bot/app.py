"""The wiring, and the only place that knows every part: settings → memory (opened with
`async with`) → the model → the chat service → the front ends, run together until a stop
signal or until one of them stops; then everything is closed in reverse order.

Front ends are given the chat service and a stop event; they never open or close the store.
`create_bot` builds the same parts for a Discord bot that tests (dpytest) drive directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from .core.chat import ChatService
from .core.config import ChatConfig
from .core.usage import Clock, utc_clock
from .memory import describe_memory, open_store
from .models import (
    describe_model,
    is_offline,
    make_client,
    offline_notice,
    opened_model,
    select_model,
)
from .ops.metrics import Metrics
from .ops.server import ops_server
from .settings import SettingsError

if TYPE_CHECKING:
    from agents import Model

    from .core.store import ChatStore
    from .frontends.discord.bot import MemoryBot
    from .settings import Settings

log = logging.getLogger(__name__)

# How long the front ends may take to stop once told to, before they are cancelled.
SHUTDOWN_GRACE_SECONDS = 10.0

FrontEnd = Callable[[asyncio.Event], Awaitable[None]]


@contextlib.asynccontextmanager
async def chat_service(
    settings: Settings,
    *,
    store: ChatStore | None = None,
    model: Model | None = None,
    rate_limited: bool = True,
    metrics: Metrics | None = None,
) -> AsyncIterator[ChatService]:
    """The chat service the settings describe, over the memory they select (opened here,
    tables checked and migrated, unless `store` is given) and the model they ask for (unless
    `model` is given), counting into `metrics`; what was opened here is closed on exit, in
    reverse order."""
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(open_store(settings))
        if model is None:
            model = await stack.enter_async_context(opened_model(settings))
        config = ChatConfig.from_settings(settings, rate_limited=rate_limited)
        config = dataclasses.replace(config, offline_model=is_offline(model))
        metrics = metrics or Metrics()
        chat = ChatService(store, model, config, observer=metrics)
        metrics.watch(chat)
        yield chat


def settle_heap() -> None:
    """Once started: what is loaded by now (modules, the SDK, the store's compiled statements)
    lives as long as the process, so it leaves the garbage collector's view. Its full passes
    would otherwise walk all of it every so often, a pause of 100-200 ms on the event loop
    that every answer and search waiting then shares."""
    gc.collect()
    gc.freeze()


@contextlib.asynccontextmanager
async def operated(
    settings: Settings, chat: ChatService, front_ends: Sequence[str]
) -> AsyncIterator[None]:
    """The front ends named are expected connected (for /healthz); with METRICS_PORT set,
    /healthz and /metrics are served while the block runs."""
    for name in front_ends:
        chat.connections.expect(name)
    if settings.metrics_port is None:
        yield
        return
    metrics = chat.observer
    if not isinstance(metrics, Metrics):
        raise TypeError("the chat service does not count into Metrics")
    async with ops_server(chat, metrics, host=settings.metrics_host, port=settings.metrics_port):
        yield


def create_bot(
    settings: Settings,
    *,
    model: Model | None = None,
    sync_global: bool = False,
    clock: Clock | None = None,
) -> MemoryBot:
    """A ready Discord bot over the memory in `settings`; its memory opens on first use and
    closes with the bot, and so does the model's HTTP client. `model` replaces the
    configured one and `clock` the UTC clock of the daily limits (tests)."""
    from .frontends.discord.bot import build_bot

    resources = contextlib.AsyncExitStack()
    store = open_store(settings)
    resources.push_async_callback(store.aclose)
    if model is None:
        client = None if settings.use_offline_model else make_client(settings)
        if client is not None:
            resources.push_async_callback(client.close)
        model = select_model(settings, client)
    metrics = Metrics()
    config = ChatConfig.from_settings(settings)
    config = dataclasses.replace(config, offline_model=is_offline(model))
    chat = ChatService(
        store,
        model,
        config,
        observer=metrics,
        clock=clock or utc_clock,
    )
    metrics.watch(chat)
    chat.connections.expect("discord")
    return build_bot(settings, chat, sync_global=sync_global, resources=resources)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (where the loop supports it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        yield stop
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


async def run_until_stop(front_ends: Sequence[FrontEnd], stop: asyncio.Event) -> None:
    """Run every front end until `stop` is set or one of them ends; then all are told to
    stop (given SHUTDOWN_GRACE_SECONDS, then cancelled). Re-raises the first one's error."""
    tasks = [asyncio.create_task(run(stop)) for run in front_ends]
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
        for task in late:
            log.warning("a front end did not stop in time; cancelled it")
            task.cancel()
        if late:
            await asyncio.wait(late)
    finally:
        stopping.cancel()
        for task in tasks:
            task.cancel()
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


async def serve(settings: Settings, frontend: str, *, sync_global: bool = False) -> None:
    """Run Discord, Slack or both ("both": one chat service, one memory, separate keys) until
    SIGINT/SIGTERM, or until one of them stops."""
    from .frontends.discord.bot import build_bot, serve_discord
    from .frontends.slack.app import check_settings, serve_slack

    with_discord = frontend in ("discord", "both")
    with_slack = frontend in ("slack", "both")
    # What is missing is said before anything opens.
    token = discord_token(settings) if with_discord else ""
    if with_slack:
        check_settings(settings)
    async with chat_service(settings) as chat:
        names = {"discord": "the Discord bot", "slack": "the Slack bot"}
        log.info(
            "starting %s; memory in %s; model: %s",
            names.get(frontend, "the Discord and Slack bots"),
            describe_memory(settings),
            describe_model(settings),
        )
        if (notice := offline_notice(settings)) is not None:
            log.warning("%s", notice)
        front_ends: list[FrontEnd] = []
        if with_discord:
            bot = build_bot(settings, chat, sync_global=sync_global)
            front_ends.append(functools.partial(serve_discord, bot, token))
        if with_slack:
            front_ends.append(functools.partial(serve_slack, settings, chat))
        running = [n for n, on in (("discord", with_discord), ("slack", with_slack)) if on]
        async with operated(settings, chat, running):
            settle_heap()
            with stop_on_signals() as stop:
                await run_until_stop(front_ends, stop)


async def run_console(settings: Settings, user: str) -> None:
    """The console channel until end of input (Ctrl-C ends it at once: KeyboardInterrupt)."""
    from .frontends.console import run_console as console

    async with chat_service(settings, rate_limited=False) as chat:
        log.info(
            "console channel; memory in %s; model: %s",
            describe_memory(settings),
            describe_model(settings),
        )
        notice = offline_notice(settings)
        if notice is not None:
            log.warning("%s", notice)
        async with operated(settings, chat, ["console"]):
            settle_heap()
            await console(chat, user, show_added=settings.show_turn_embed, notice=notice)


async def run_migrate(settings: Settings) -> None:
    """Create the schema and exit; safe to run from several processes at once."""
    async with open_store(settings):
        pass  # opening checks the tables and applies every pending migration
    log.info("memory tables ready in %s", describe_memory(settings))


def discord_token(settings: Settings) -> str:
    """The bot token in clear, only for the connection that needs it."""
    token = settings.discord_token
    if token is None:
        raise SettingsError("DISCORD_TOKEN is not set; put it in .env or the environment.")
    return token.get_secret_value()
