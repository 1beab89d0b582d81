"""Abuse and load limits: refused messages get a short reply, never reach the model, and are
not stored."""

from __future__ import annotations

import asyncio

from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message
from chat_support import make_service

from bot.core.admission import SLOW_DOWN, RateLimiter
from bot.core.domain import UserKey
from bot.core.store import MemoryStore

U = UserKey.parse("u")


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


def test_quiet_users_are_forgotten_without_changing_any_answer() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=2, clock=clock)
    assert [limiter.acquire("spammer") for _ in range(3)] == [True, True, False]
    for n in range(10_000):
        assert limiter.acquire(f"user{n}") is True
    assert len(limiter) == 10_001
    # A full refill period later every bucket is full again: remembering them says nothing.
    clock.now += limiter.full_after
    assert limiter.acquire("newcomer") is True
    assert len(limiter) == 1
    # The spammer's bucket was dropped, and a dropped bucket is a full one.
    assert [limiter.acquire("spammer") for _ in range(3)] == [True, True, False]


def test_a_bucket_still_refilling_is_kept_while_older_full_ones_go() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, clock=clock)  # one token a second
    limiter.acquire("old")
    clock.now += 30
    for _ in range(60):
        limiter.acquire("busy")  # empties the bucket, 30 s after "old"
    assert limiter.acquire("busy") is False
    clock.now += 30  # "old" is full again (60 s); "busy" has 30 of its 60 tokens back
    limiter.acquire("other")
    assert len(limiter) == 2  # "busy" and "other"
    assert [limiter.acquire("busy") for _ in range(31)] == [True] * 30 + [False]


async def test_too_long_message_is_refused_without_a_model_call(store: MemoryStore) -> None:
    model = ScriptedModel([[assistant_message("fits")]])
    service = make_service(store, model, max_input_chars=10)
    result = await service.turn(U, "x" * 11)
    assert result.failure == "too_long"
    assert "limit is 10" in result.reply
    assert model.calls == ()
    assert await store.all_items(U) == []
    # A message exactly at the limit runs: the model's one answer is the reply.
    at_limit = await service.turn(U, "y" * 10)
    assert (at_limit.ok, at_limit.reply) == (True, "fits")
    model.assert_complete()


async def test_rate_limited_messages_are_not_run_or_stored(store: MemoryStore) -> None:
    model = ScriptedModel([[assistant_message("one")], [assistant_message("two")]])
    service = make_service(store, model, rate_limit_per_minute=2)
    replies = [(await service.turn(U, f"m{n}")).reply for n in range(4)]
    assert replies == ["one", "two", SLOW_DOWN, ""]
    assert len(model.calls) == 2
    assert len(await store.all_items(U)) == 4  # two turns, user + assistant each
    model.assert_complete()


async def test_queue_per_user_is_bounded(store: MemoryStore) -> None:
    release = asyncio.Event()
    first_running = asyncio.Event()

    async def slow(call: ModelCall) -> list:
        first_running.set()
        await release.wait()
        return [assistant_message("done")]

    model = ScriptedModel([ModelStep.respond(slow), ModelStep.respond(slow)])
    service = make_service(store, model, max_queued_per_user=1)
    running = asyncio.create_task(service.turn(U, "first"))
    await first_running.wait()  # the first turn holds the user's lock, inside the model
    queued = asyncio.create_task(service.turn(U, "second"))
    # One pass of the loop: the queued turn runs straight to its wait on the user's lock
    # (nothing before that wait suspends), so it is counted as queued from here on.
    await asyncio.sleep(0)
    assert not queued.done()
    refused = await service.turn(U, "third")
    assert refused.failure == "queue_full" and refused.reply == SLOW_DOWN
    release.set()
    assert [(await running).reply, (await queued).reply] == ["done", "done"]
    model.assert_complete()


async def test_global_cap_on_concurrent_model_runs(store: MemoryStore) -> None:
    in_flight = 0
    peak = 0
    # Model calls leave in pairs: with a cap of 2 every call finds a partner; a cap of 1
    # would never let a pair form (the timeout fails the test), a missing cap lets more in.
    pairs = asyncio.Barrier(2)

    async def measure(call: ModelCall) -> list:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await pairs.wait()
        in_flight -= 1
        return [assistant_message("ok")]

    model = ScriptedModel([ModelStep.respond(measure) for _ in range(6)])
    service = make_service(store, model, max_concurrent_turns=2)
    async with asyncio.timeout(30):
        results = await asyncio.gather(
            *(service.turn(UserKey.parse(f"u{n}"), "hi") for n in range(6))
        )
    assert [r.reply for r in results] == ["ok"] * 6
    assert peak == 2
    model.assert_complete()
