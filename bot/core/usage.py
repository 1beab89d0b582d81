"""Model usage: what a stored turn spent (from the SDK's run result), today's counts kept in
memory for the daily limits (`UsageLedger`, the database is the record), and the sentence a
person gets when a limit is reached.

Days are UTC days: every limit resets at midnight UTC. The clock is injectable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .places import Limits

Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class UsageCounts:
    """Turns, model requests and tokens (input and output), summed over some span."""

    turns: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: UsageCounts) -> UsageCounts:
        return UsageCounts(
            self.turns + other.turns,
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
        )

    def at_least(self, other: UsageCounts) -> UsageCounts:
        """Each count the larger of the two: within a day counts only grow, so of two
        readings of the same row the larger is the newer."""
        return UsageCounts(
            max(self.turns, other.turns),
            max(self.requests, other.requests),
            max(self.input_tokens, other.input_tokens),
            max(self.output_tokens, other.output_tokens),
        )


@dataclass(frozen=True)
class UsageRecord:
    """What one stored turn adds to its author's usage: the day (UTC) and the scope (a
    server, or a front end's direct messages) it counts under, and what the model spent."""

    day: date
    scope: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _messages(count: int) -> str:
    return f"{count:,} message{'s' if count != 1 else ''}"


def next_reset(now: datetime) -> datetime:
    """The next midnight UTC after `now`."""
    today = now.astimezone(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)


def until(now: datetime, moment: datetime) -> str:
    """`3 h 12 min`, `12 min`, `under a minute`."""
    minutes = int((moment - now).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def quota_refusal(
    limits: Limits, mine: UsageCounts, server_tokens: int, now: datetime, *, in_server: bool
) -> tuple[str, str] | None:
    """(which limit, the sentence for the person) when a daily limit is reached; else None."""
    here = "in this server" if in_server else "here"
    reason = None
    if limits.daily_turns_per_user and mine.turns >= limits.daily_turns_per_user:
        reason = (
            "daily_turns_per_user",
            f"You've reached the daily limit of {_messages(limits.daily_turns_per_user)} per "
            f"person {here}.",
        )
    elif limits.daily_tokens_per_user and mine.tokens >= limits.daily_tokens_per_user:
        reason = (
            "daily_tokens_per_user",
            f"You've used your {limits.daily_tokens_per_user:,} model tokens for today "
            f"(the daily limit per person {here}; used: {mine.tokens:,}).",
        )
    elif limits.daily_tokens_per_server and server_tokens >= limits.daily_tokens_per_server:
        reason = (
            "daily_tokens_per_server",
            f"This server has used its {limits.daily_tokens_per_server:,} model tokens for "
            "today (the daily limit for the whole server).",
        )
    if reason is None:
        return None
    reset = next_reset(now)
    return reason[0], (
        f"{reason[1]} It resets at midnight UTC (in {until(now, reset)}). "
        "I didn't read this message, and nothing from it was stored."
    )


Loader = Callable[[str, date], Awaitable[Mapping[str, UsageCounts]]]


class UsageLedger:
    """Today's usage per scope and user, in memory, for the daily limits.

    A scope's counts are read from the store the first time a limit needs them each day (one
    read for all its users); after that each stored turn's totals, as its commit returned
    them, replace the kept ones. Nothing is read for a scope no limit applies to, so the
    bookkeeping of a turn is a dictionary update. A new UTC day starts from nothing.
    """

    def __init__(self, load: Loader, clock: Clock = utc_clock) -> None:
        self._load = load
        self.clock = clock
        self._day: date | None = None
        self._users: dict[str, dict[str, UsageCounts]] = {}
        self._server_tokens: dict[str, int] = {}
        self._loading: dict[str, asyncio.Task[Mapping[str, UsageCounts]]] = {}

    def today(self) -> date:
        day = self.clock().astimezone(UTC).date()
        if day != self._day:
            self._day = day
            self._users.clear()
            self._server_tokens.clear()
            self._loading.clear()
        return day

    async def counts(self, scope: str, user_key: str) -> tuple[UsageCounts, int]:
        """The user's counts and the scope's tokens today (read from the store once)."""
        day = self.today()
        if scope not in self._users:
            task = self._loading.get(scope)
            if task is None:
                task = self._loading[scope] = asyncio.ensure_future(self._load(scope, day))
            try:
                loaded = await asyncio.shield(task)
            finally:
                if task.done() and self._loading.get(scope) is task:
                    del self._loading[scope]
            if day == self._day and scope not in self._users:
                self._users[scope] = {}
                self._server_tokens[scope] = 0
                for user, counts in loaded.items():
                    self._set(scope, user, counts)
        return self._users.get(scope, {}).get(user_key, UsageCounts()), self._server_tokens.get(
            scope, 0
        )

    def record(self, day: date, scope: str, user_key: str, counts: UsageCounts) -> None:
        """A stored turn's totals for its user today (as the commit read them back)."""
        if day == self.today() and scope in self._users:
            self._set(scope, user_key, counts)

    def _set(self, scope: str, user_key: str, counts: UsageCounts) -> None:
        users = self._users[scope]
        old = users.get(user_key, UsageCounts())
        new = old.at_least(counts)
        users[user_key] = new
        self._server_tokens[scope] += new.tokens - old.tokens
