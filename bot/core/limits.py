"""Abuse and load limits: per-user token buckets for message rate."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


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

    def refund(self, user_key: str) -> None:
        """Give a token back (the message was refused for another reason before running)."""
        bucket = self._buckets.get(user_key)
        if bucket is not None:
            bucket.tokens = min(self.capacity, bucket.tokens + 1.0)
