"""Abuse and load limits: refused messages get a short reply, never reach the model, and are
not stored."""

from __future__ import annotations

import asyncio

from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message

from bot.core.chat import SLOW_DOWN, ChatService
from bot.core.limits import RateLimiter
from bot.memory import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_and_warns_once_per_episode() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=3, clock=clock)
    assert [limiter.acquire("u") for _ in range(3)] == [True, True, True]
    assert limiter.acquire("u") is False  # first refusal: tell the user
    assert limiter.acquire("u") is None  # later refusals: stay quiet
    assert limiter.acquire("other") is True  # users have separate buckets
    clock.now += 20  # one token back (3 per minute)
    assert limiter.acquire("u") is True
    assert limiter.acquire("u") is False  # a new episode is told again


async def test_too_long_message_is_refused_without_a_model_call(store: MemoryStore) -> None:
    model = ScriptedModel()
    service = ChatService(store, model, max_input_chars=10)
    result = await service.turn("u", "x" * 11)
    assert result.failure == "too_long"
    assert "limit is 10" in result.reply
    assert model.calls == ()
    assert await store.all_items("u") == []
    assert (await service.turn("u", "y" * 10)).failure != "too_long"


async def test_rate_limited_messages_are_not_run_or_stored(store: MemoryStore) -> None:
    model = ScriptedModel([[assistant_message("one")], [assistant_message("two")]])
    service = ChatService(store, model, rate_limit_per_minute=2)
    replies = [(await service.turn("u", f"m{n}")).reply for n in range(4)]
    assert replies == ["one", "two", SLOW_DOWN, ""]
    assert len(model.calls) == 2
    assert len(await store.all_items("u")) == 4  # two turns, user + assistant each
    model.assert_complete()


async def test_queue_per_user_is_bounded(store: MemoryStore) -> None:
    release = asyncio.Event()

    async def slow(call: ModelCall) -> list:
        await release.wait()
        return [assistant_message("done")]

    model = ScriptedModel([ModelStep.respond(slow), ModelStep.respond(slow)])
    service = ChatService(store, model, max_queued_per_user=1)
    running = asyncio.create_task(service.turn("u", "first"))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(service.turn("u", "second"))
    await asyncio.sleep(0.05)
    refused = await service.turn("u", "third")
    assert refused.failure == "queue_full" and refused.reply == SLOW_DOWN
    release.set()
    assert [(await running).reply, (await queued).reply] == ["done", "done"]
    model.assert_complete()


async def test_global_cap_on_concurrent_model_runs(store: MemoryStore) -> None:
    in_flight = 0
    peak = 0

    async def measure(call: ModelCall) -> list:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return [assistant_message("ok")]

    model = ScriptedModel([ModelStep.respond(measure) for _ in range(6)])
    service = ChatService(store, model, max_concurrent_turns=2)
    results = await asyncio.gather(*(service.turn(f"u{n}", "hi") for n in range(6)))
    assert all(r.ok for r in results)
    assert peak == 2
