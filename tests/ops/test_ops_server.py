"""/healthz and /metrics scraped over 127.0.0.1: 200 while the store answers and every
configured front end is connected, 503 with the reason otherwise (the store failing on
either back end, a front end not connected); the metrics the chat service counts, and never
user content or secrets."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from agents import Usage
from agents.testing import ScriptedModel, assistant_message
from chat_support import make_service

from bot.core.chat import ChatService
from bot.core.domain import UserKey
from bot.core.places import Place
from bot.memory import SqlMemoryStore
from bot.ops.metrics import Metrics
from bot.ops.server import ops_server

ADA = UserKey("discord", "4242424242")
SECRET_TEXT = "my password is hunter2-very-secret"


@contextlib.asynccontextmanager
async def served(chat: ChatService, metrics: Metrics) -> AsyncIterator[str]:
    async with ops_server(chat, metrics, host="127.0.0.1", port=0) as url:
        yield url


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def observed(store: SqlMemoryStore, model: ScriptedModel | None = None) -> ChatService:
    metrics = Metrics()
    chat = make_service(store, model, observer=metrics)
    metrics.watch(chat)
    return chat


def sample(text: str, name: str) -> float:
    """The value of one sample line (`name{labels} value`) in a scrape."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError(f"{name} not in the scrape")


async def test_metrics_count_turns_tokens_refusals_and_queue(store: SqlMemoryStore) -> None:
    model = ScriptedModel(
        [[assistant_message("one")], [assistant_message("two")]],
        default_usage=Usage(requests=1, input_tokens=11, output_tokens=5, total_tokens=16),
    )
    chat = observed(store, model)
    metrics = chat.observer
    assert isinstance(metrics, Metrics)
    place = Place("discord", "1", "2")
    await chat.turn(ADA, SECRET_TEXT, place=place)
    await chat.turn(ADA, "second", place=place)
    await chat.turn(ADA, "x" * (chat.config.max_input_chars + 1), place=place)
    async with served(chat, metrics) as url:
        status, text = await get(f"{url}/metrics")
    assert status == 200
    assert sample(text, 'memorybot_turns_total{frontend="discord",outcome="ok"}') == 2
    assert sample(text, 'memorybot_turns_total{frontend="discord",outcome="refused"}') == 1
    assert sample(text, 'memorybot_turn_refusals_total{reason="too_long"}') == 1
    assert sample(text, 'memorybot_model_tokens_total{direction="input",frontend="discord"}') == 22
    assert sample(text, 'memorybot_model_tokens_total{direction="output",frontend="discord"}') == 10
    assert sample(text, 'memorybot_model_requests_total{frontend="discord"}') == 2
    assert sample(text, 'memorybot_turn_seconds_count{frontend="discord"}') == 2
    assert sample(text, "memorybot_queued_messages") == 0
    assert sample(text, "memorybot_turns_in_flight") == 0
    # Kinds and front end names only: no message text, no user id.
    assert "hunter2" not in text and "4242424242" not in text


async def test_healthz_is_200_when_the_store_answers_and_front_ends_are_connected(
    store: SqlMemoryStore,
) -> None:
    chat = observed(store)
    chat.connections.expect("discord")
    async with served(chat, chat.observer) as url:  # type: ignore[arg-type]
        status, text = await get(f"{url}/healthz")
        assert (status, text) == (503, "unhealthy\ndiscord: not connected yet\n")
        chat.connections.connected("discord")
        assert await get(f"{url}/healthz") == (200, "ok\nstore: answers\ndiscord: connected\n")
        chat.connections.disconnected("discord", "disconnected from the gateway")
        status, text = await get(f"{url}/healthz")
        assert status == 503 and "discord: disconnected from the gateway" in text
        _, scraped = await get(f"{url}/metrics")
        assert 'memorybot_frontend_connected{frontend="discord"} 0.0' in scraped


async def test_healthz_is_503_while_the_sqlite_file_is_gone(db_path: Path) -> None:
    async with SqlMemoryStore(db_path) as store:
        chat = observed(store)
        chat.connections.expect("console")
        chat.connections.connected("console")
        async with served(chat, chat.observer) as url:  # type: ignore[arg-type]
            assert (await get(f"{url}/healthz"))[0] == 200
            moved = db_path.with_suffix(".moved")
            os.rename(db_path, moved)  # someone moved the file away while the bot runs
            status, text = await get(f"{url}/healthz")
            assert status == 503
            assert text.startswith(f"unhealthy\nstore: the memory file {db_path} is gone")
            os.rename(moved, db_path)
            assert (await get(f"{url}/healthz"))[0] == 200


@pytest.mark.slow
async def test_healthz_is_503_while_postgresql_refuses_connections(pg_server, pg_url) -> None:  # type: ignore[no-untyped-def]
    database = pg_url.rsplit("/", 1)[1]
    async with SqlMemoryStore(pg_url) as store:
        chat = observed(store)
        async with served(chat, chat.observer) as url:  # type: ignore[arg-type]
            assert await get(f"{url}/healthz") == (200, "ok\nstore: answers\n")
            pg_server.psql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
            pg_server.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            )
            try:
                status, text = await get(f"{url}/healthz")
                assert status == 503, text
                assert text.startswith("unhealthy\nstore: ")
                assert "PostgreSQL at 127.0.0.1" in text
                assert pg_server.password not in text
            finally:
                pg_server.psql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
            assert (await get(f"{url}/healthz"))[0] == 200
