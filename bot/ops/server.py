"""`/healthz` and `/metrics` on METRICS_HOST:METRICS_PORT (127.0.0.1 by default).

Served by aiohttp on the bot's own event loop rather than prometheus-client's threaded
server: the health check awaits the store (a cheap query through the same pool every turn
uses) and reads the front ends' connection state, which live on this loop; a second thread
would have to hop back onto it for every probe. aiohttp is already a dependency (discord.py,
Bolt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from ..core.store import StoreError
from ..settings import SettingsError
from .metrics import CONTENT_TYPE_LATEST, Metrics

if TYPE_CHECKING:
    from ..core.chat import ChatService

log = logging.getLogger(__name__)

# A store that has not answered in this time is not healthy (a probe must not hang).
PING_TIMEOUT_S = 5.0


async def health(chat: ChatService) -> list[str]:
    """What is wrong, one `part: why` line each; empty when the store answers and every
    configured front end is connected."""
    problems: list[str] = []
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):
            await chat.store.ping()
    except StoreError as exc:
        problems.append(f"store: {exc}")
    except TimeoutError:
        problems.append(f"store: no answer within {PING_TIMEOUT_S:g} s")
    except Exception as exc:
        # An error the back end does not word: its type only (its text may hold details).
        log.warning("health check: the store failed", exc_info=True)
        problems.append(f"store: {type(exc).__name__}")
    return problems + chat.connections.problems()


def ops_app(chat: ChatService, metrics: Metrics) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        problems = await health(chat)
        if problems:
            return web.Response(status=503, text="unhealthy\n" + "\n".join(problems) + "\n")
        lines = ["ok", "store: answers"]
        lines += [f"{name}: connected" for name in sorted(chat.connections.state())]
        return web.Response(text="\n".join(lines) + "\n")

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.scrape(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)
    return app


@contextlib.asynccontextmanager
async def ops_server(
    chat: ChatService, metrics: Metrics, *, host: str, port: int
) -> AsyncIterator[str]:
    """Serve /healthz and /metrics while the block runs; yields the base URL (port 0: a
    free port)."""
    runner = web.AppRunner(ops_app(chat, metrics), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise SettingsError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror or type(exc).__name__}); "
                "choose another METRICS_PORT (or METRICS_HOST)"
            ) from None
        bound_host, bound_port = runner.addresses[0][:2]
        url = f"http://{bound_host}:{bound_port}"
        log.info("health and metrics at %s/healthz and %s/metrics", url, url)
        yield url
    finally:
        await runner.cleanup()
