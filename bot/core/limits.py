"""Abuse and load limits: per-user token buckets for message rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Buckets of users who have been quiet long enough to be full again carry no information;
# past this many entries they are dropped so the map cannot grow with every user ever seen.
PRUNE_ABOVE = 4096


@dataclass
class _Bucket:
    tokens: float
    updated: float
    # True once this throttled episode has been told to slow down; reset when a message passes.
    warned: bool = False


class RateLimiter:
    """A token bucket per user: `per_minute` messages a minute, bursts up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, user_key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(user_key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[user_key] = _Bucket(tokens=self.capacity, updated=now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_second)
            bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.refill_per_second
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]

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

    def refund(self, user_key: str) -> None:
        """Give a token back (the message was refused for another reason before running)."""
        bucket = self._buckets.get(user_key)
        if bucket is not None:
            bucket.tokens = min(self.capacity, bucket.tokens + 1.0)
