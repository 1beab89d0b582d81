"""A community's side of the chat core: each server's settings (read from the store, kept
for a short while, changed by its admins), where the bot answers, who may talk to it, the
daily limits and the usage they count.

Settings changed in this process take effect on the next message; another process sharing
the database sees them within SETTINGS_CACHE_S seconds. Every server that set nothing uses
the bot's settings: CHAT_CHANNEL_IDS for where it answers on Discord, DAILY_* for limits.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from .places import (
    LIMITS,
    AnswerRule,
    Limits,
    Place,
    ServerSettings,
)
from .usage import Clock, UsageCounts, UsageLedger, UsageRecord, quota_refusal, utc_clock

if TYPE_CHECKING:
    from .domain import UserKey
    from .store import PlaceStore

SETTINGS_CACHE_S = 30.0
# Servers whose settings are kept in memory at once (least recently used go first).
MAX_CACHED_SERVERS = 10_000
NOT_ALLOWED = (
    "Sorry, this server's admins haven't allowed you to talk to me here. I didn't read your "
    "message, and nothing from it was stored."
)
NO_SERVER = ServerSettings()


class Community:
    """Per-server settings and usage for the chat service. `answer_defaults` maps a front
    end to where it answers in servers that set nothing (others: @mentions only)."""

    def __init__(
        self,
        store: PlaceStore,
        *,
        limits: Limits,
        answer_defaults: Mapping[str, AnswerRule],
        clock: Clock = utc_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.defaults = limits
        self.answer_defaults = answer_defaults
        self.clock = clock
        self._monotonic = monotonic
        self.ledger = UsageLedger(self._load_usage, clock)
        self._cache: OrderedDict[str, tuple[float, ServerSettings]] = OrderedDict()

    # --- settings -------------------------------------------------------------------------

    async def settings(self, place: Place) -> ServerSettings:
        """The settings of the place's server (none for a place without one)."""
        key = place.server_key
        if key is None:
            return NO_SERVER
        now = self._monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < SETTINGS_CACHE_S:
            return cached[1]
        settings = ServerSettings.from_rows(key, await self.store.place_settings(key))
        self._cache[key] = (now, settings)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED_SERVERS:
            self._cache.popitem(last=False)
        return settings

    def answer_rule(self, place: Place, settings: ServerSettings) -> AnswerRule:
        return settings.answer or self.answer_defaults.get(place.frontend, AnswerRule())

    async def answers(self, place: Place) -> bool:
        """Whether a plain message here (not a DM, @mention or reply) gets an answer."""
        if place.server_key is None:
            return True
        return self.answer_rule(place, await self.settings(place)).answers(place)

    async def change(
        self, place: Place, name: str, value: Any, *, by: UserKey, channel: str = ""
    ) -> ServerSettings:
        """Store one setting of the place's server (None removes it); the new settings."""
        key = place.server_key
        if key is None:
            raise ValueError("a place without a server has no settings")
        stored = None if value is None else json.dumps(value, ensure_ascii=False)
        await self.store.set_place_setting(key, channel, name, stored, by=by)
        self._cache.pop(key, None)
        return await self.settings(place)

    # --- admission ------------------------------------------------------------------------

    @staticmethod
    def refuses(place: Place, settings: ServerSettings, user: UserKey) -> str | None:
        """The private line for someone the allow and block lists keep out, else None."""
        return NOT_ALLOWED if settings.refuses(str(user), place) else None

    def limits(self, settings: ServerSettings) -> Limits:
        return settings.limits_over(self.defaults) if settings.limits else self.defaults

    async def over_limit(
        self, place: Place, settings: ServerSettings, user: UserKey
    ) -> tuple[str, str] | None:
        """(which limit, the sentence) when a daily limit keeps this turn from running."""
        limits = self.limits(settings)
        if not limits.any:
            return None  # nothing to count against: no read at all
        mine, server_tokens = await self.ledger.counts(place.scope, str(user))
        if place.server_key is None:
            server_tokens = 0  # direct messages have no server budget
        return quota_refusal(
            limits, mine, server_tokens, self.clock(), in_server=place.server_key is not None
        )

    def usage_record(
        self, place: Place, requests: int, input_tokens: int, output_tokens: int
    ) -> UsageRecord:
        """What a turn here adds to its author's usage today."""
        return UsageRecord(self.ledger.today(), place.scope, requests, input_tokens, output_tokens)

    def counted(self, record: UsageRecord, user: UserKey, totals: UsageCounts | None) -> None:
        """A stored turn's totals (as its commit read them back) for the limits."""
        if totals is not None:
            self.ledger.record(record.day, record.scope, str(user), totals)

    async def _load_usage(self, scope: str, day: date) -> Mapping[str, UsageCounts]:
        return await self.store.usage_by_user(scope, day, day)


def limit_value(settings: ServerSettings, defaults: Limits, name: str) -> tuple[int, bool]:
    """A limit's value here and whether the server set it (False: the bot's default)."""
    if name not in LIMITS:
        raise ValueError(name)
    if name in settings.limits:
        return settings.limits[name], True
    return getattr(defaults, name), False
