"""Admission: whether a message may run now, and in what order.

Each user's turns run one at a time in arrival order (`UserLocks`); a message is refused
before it runs when it is too long, when that user's queue is full, or when they send faster
than the rate limit (`RateLimiter`); at most `max_concurrent_turns` run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ChatConfig
    from .domain import UserKey

# A person kept out by a server's allow or block lists is told so at most this often.
NOT_ALLOWED_QUIET_S = 600.0
SLOW_DOWN = (
    "You're sending messages faster than I can answer, so I skipped this one. "
    "Please slow down a little."
)


def too_long_reply(limit: int, length: int | None = None) -> str:
    """The reply to a message over `limit` characters (`length`, when it is known)."""
    size = f"{length:,} characters; " if length is not None else ""
    return (
        f"That message is too long ({size}the limit is {limit:,} characters). "
        "Please send a shorter one; nothing was stored."
    )


@dataclass
class _Bucket:
    tokens: float
    updated: float
    # True once this throttled episode has been told to slow down; reset when a message passes.
    warned: bool = False


class RateLimiter:
    """A token bucket per user: `per_minute` messages a minute, bursts up to `per_minute`.

    Buckets are kept in the order they were last touched, oldest first. A bucket untouched for
    a full refill period is full again, which is exactly what a missing bucket means, so it
    can be dropped; dropping from the front as part of each `acquire` keeps every call O(1)
    amortised however many users are active (no scan of the map).
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        # Seconds after which an untouched bucket has refilled completely.
        self.full_after = self.capacity / self.refill_per_second
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        """Users whose bucket is not known to be full (the ones the limiter remembers)."""
        return len(self._buckets)

    def _drop_full(self, now: float) -> None:
        # Oldest first: stop at the first bucket that may still be short of tokens.
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.updated < self.full_after:
                return
            buckets.popitem(last=False)

    def _bucket(self, user_key: str, now: float) -> _Bucket:
        self._drop_full(now)
        bucket = self._buckets.get(user_key)
        if bucket is None:
            bucket = self._buckets[user_key] = _Bucket(tokens=self.capacity, updated=now)
            return bucket
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_second)
        # A clock that stepped back must not move a bucket ahead of newer ones in the order.
        bucket.updated = max(now, bucket.updated)
        self._buckets.move_to_end(user_key)
        return bucket

    def acquire(self, user_key: str) -> bool | None:
        """True: the message may go ahead (a token was taken). False: throttled, and this is
        the first throttled message of the episode (tell the user once). None: throttled and
        already told (stay quiet rather than answer spam with spam)."""
        bucket = self._bucket(user_key, self._clock())
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return True
        if bucket.warned:
            return None
        bucket.warned = True
        return False


class UserLocks:
    """One lock per user: their turns (and the commands that must not overlap a turn) run
    one at a time, in arrival order (asyncio.Lock wakes waiters first come, first served).
    A lock is dropped when nobody holds or waits on it, so the map stays small."""

    def __init__(self, on_idle: Callable[[UserKey], None] = lambda _user: None) -> None:
        self._locks: dict[UserKey, asyncio.Lock] = {}
        self._users: dict[UserKey, int] = {}
        self._on_idle = on_idle
        self.total = 0  # holders and waiters of every user's lock

    def queued(self, user: UserKey) -> int:
        """Holders plus waiters of this user's lock: one running turn and its queue."""
        return self._users.get(user, 0)

    @contextlib.asynccontextmanager
    async def hold(self, user: UserKey) -> AsyncIterator[None]:
        lock = self._locks.setdefault(user, asyncio.Lock())
        self._users[user] = self._users.get(user, 0) + 1
        self.total += 1
        try:
            async with lock:
                yield
        finally:
            self.total -= 1
            self._users[user] -= 1
            if self._users[user] == 0:
                del self._users[user]
                del self._locks[user]
                self._on_idle(user)


@dataclass(frozen=True)
class Refusal:
    """Why a message does not run: a kind for logs and tests, and the reply (empty: send
    nothing, the person was already told)."""

    kind: str  # too_long | not_allowed | queue_full | throttled
    reply: str


class Admission:
    """The limits a message passes before its turn runs, and the cap on turns in flight."""

    def __init__(
        self, config: ChatConfig, locks: UserLocks, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_input_chars = config.max_input_chars
        self.max_queued_per_user = config.max_queued_per_user
        self._locks = locks
        self._rate = (
            RateLimiter(config.rate_limit_per_minute) if config.rate_limit_per_minute else None
        )
        self._slots = asyncio.Semaphore(config.max_concurrent_turns)
        self.running = 0  # turns holding a slot
        # Users told their queue is full, until their queue drains: one reply per episode.
        self._queue_warned: set[UserKey] = set()
        # When each user kept out by a server's lists was last told so (oldest first).
        self._told: OrderedDict[UserKey, float] = OrderedDict()
        self._clock = clock

    def queue_drained(self, user: UserKey) -> None:
        """The user's queue is empty: the next full queue is a new episode."""
        self._queue_warned.discard(user)

    def too_long(self, length: int) -> str:
        """The reply to a message of `length` characters over the limit."""
        return too_long_reply(self.max_input_chars, length)

    def refuse(self, user: UserKey, text: str, not_allowed: str | None = None) -> Refusal | None:
        """None when the message may run; otherwise why not, and what to answer.
        `not_allowed` is the line for someone a server's lists keep out (said once every
        NOT_ALLOWED_QUIET_S, so a refused person's spam gets no answer either)."""
        if not_allowed is not None:
            return Refusal("not_allowed", self._once(user, not_allowed))
        if len(text) > self.max_input_chars:
            return Refusal("too_long", self.too_long(len(text)))
        # Checked before the rate limit, so a message refused here uses up no rate token.
        if self._locks.queued(user) > self.max_queued_per_user:
            if user in self._queue_warned:
                return Refusal("queue_full", "")
            self._queue_warned.add(user)
            return Refusal("queue_full", SLOW_DOWN)
        if self._rate is not None:
            allowed = self._rate.acquire(str(user))
            if allowed is None:
                return Refusal("throttled", "")
            if allowed is False:
                return Refusal("throttled", SLOW_DOWN)
        return None

    def _once(self, user: UserKey, line: str) -> str:
        now = self._clock()
        told = self._told
        while told and now - next(iter(told.values())) >= NOT_ALLOWED_QUIET_S:
            told.popitem(last=False)
        if user in told:
            return ""
        told[user] = now
        return line

    def slot(self) -> Admission:
        """Held while a turn runs (`async with`): at most `max_concurrent_turns` at once."""
        return self

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        self.running += 1

    async def __aexit__(self, *exc: object) -> None:
        self.running -= 1
        self._slots.release()

    def queued(self) -> int:
        """Messages waiting: behind their author's running turn, or for a free slot."""
        return max(0, self._locks.total - self.running)
