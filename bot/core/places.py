"""Where a message was written (`Place`), and what a server's admins decided for it
(`ServerSettings`): the instructions its channels get, where the bot answers, who may talk to
it, and its daily limits. Pure values; `community.py` keeps them and `memory/` stores them.

A place always comes from the front end as structured values (a guild, team or channel id
from the platform's own event), never from the text of a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

MAX_INSTRUCTIONS_CHARS = 2000
# The three daily limits a server may set for itself (0 = off); the defaults come from
# DAILY_TOKENS_PER_USER, DAILY_TURNS_PER_USER and DAILY_TOKENS_PER_SERVER.
LIMITS = ("daily_tokens_per_user", "daily_turns_per_user", "daily_tokens_per_server")
ACCESS_LISTS = ("allow_users", "block_users", "allow_roles", "block_roles")
AnswerMode = Literal["all", "channels", "mentions"]
ANSWER_MODES: tuple[AnswerMode, ...] = ("all", "channels", "mentions")
# The setting names a server may store (with its channel: "" for the whole server).
SETTING_NAMES = ("instructions", "answer", *ACCESS_LISTS, *LIMITS)


@dataclass(frozen=True)
class Place:
    """Where a message was written, as the front end knows it: the front end, the server
    (a Discord guild, a Slack workspace; None for a Discord DM), the channel and, for a
    thread, its parent channel; the author's roles there, and whether the author may change
    this server's settings (Manage Server on Discord, a workspace admin on Slack, the
    operator on the console)."""

    frontend: str
    server: str | None = None
    channel: str | None = None
    parent: str | None = None
    roles: frozenset[str] = frozenset()
    admin: bool = False

    @property
    def server_key(self) -> str | None:
        """The key a server's settings are stored under (`discord:<guild id>`), or None
        where there is no server (a Discord DM): only the defaults apply there."""
        return f"{self.frontend}:{self.server}" if self.server is not None else None

    @property
    def scope(self) -> str:
        """What usage is counted under: the server, or the front end's direct messages."""
        return self.server_key or self.frontend

    def channels(self) -> tuple[str, ...]:
        """The channel, then its parent: a thread belongs to its channel."""
        return tuple(c for c in (self.channel, self.parent) if c is not None)


@dataclass(frozen=True)
class AnswerRule:
    """Where plain messages are answered: every channel, the listed ones, or nowhere but
    mentions (DMs, @mentions and replies to the bot are always answered)."""

    mode: AnswerMode = "mentions"
    channels: frozenset[str] = frozenset()

    def answers(self, place: Place) -> bool:
        if self.mode == "all":
            return True
        if self.mode == "channels":
            return any(c in self.channels for c in place.channels())
        return False

    def describe(self) -> str:
        if self.mode == "all":
            return "every channel"
        if self.mode == "channels" and self.channels:
            listed = ", ".join(sorted(self.channels))
            return f"channels {listed} (and @mentions anywhere)"
        return "@mentions and replies only"

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "channels": sorted(self.channels)})

    @classmethod
    def from_json(cls, text: str) -> AnswerRule:
        data = json.loads(text)
        return cls(data.get("mode", "mentions"), frozenset(map(str, data.get("channels", []))))


@dataclass(frozen=True)
class Limits:
    """Daily limits (0: no limit): tokens and turns of one person, tokens of the server."""

    daily_tokens_per_user: int = 0
    daily_turns_per_user: int = 0
    daily_tokens_per_server: int = 0

    @property
    def any(self) -> bool:
        return bool(self.daily_tokens_per_user or self.daily_turns_per_user) or bool(
            self.daily_tokens_per_server
        )


@dataclass(frozen=True)
class SettingRow:
    """One stored setting: a server's (channel "") or one channel's, its value as JSON."""

    channel: str
    name: str
    value: str


@dataclass(frozen=True)
class ServerSettings:
    """What a server's admins set; anything unset falls back to the bot's settings."""

    server_key: str | None = None
    instructions: str | None = None
    channel_instructions: Mapping[str, str] = field(default_factory=dict)
    answer: AnswerRule | None = None
    allow_users: frozenset[str] = frozenset()
    block_users: frozenset[str] = frozenset()
    allow_roles: frozenset[str] = frozenset()
    block_roles: frozenset[str] = frozenset()
    limits: Mapping[str, int] = field(default_factory=dict)  # only the ones set here

    @classmethod
    def from_rows(cls, server_key: str, rows: Iterable[SettingRow]) -> ServerSettings:
        values: dict[str, object] = {"server_key": server_key}
        channels: dict[str, str] = {}
        limits: dict[str, int] = {}
        for row in rows:
            value = json.loads(row.value)
            if row.name == "instructions":
                if row.channel:
                    channels[row.channel] = str(value)
                else:
                    values["instructions"] = str(value)
            elif row.name == "answer":
                values["answer"] = AnswerRule.from_json(row.value)
            elif row.name in ACCESS_LISTS:
                values[row.name] = frozenset(map(str, value))
            elif row.name in LIMITS:
                limits[row.name] = int(value)
        return cls(**values, channel_instructions=channels, limits=limits)  # type: ignore[arg-type]

    def instructions_for(self, place: Place) -> list[tuple[str, str]]:
        """The (whose, text) instructions a turn here gets: the server's, then the
        channel's (a thread takes its channel's)."""
        found = [("server", self.instructions)] if self.instructions else []
        for channel in place.channels():
            text = self.channel_instructions.get(channel)
            if text:
                found.append(("channel", text))
                break
        return found

    def refuses(self, user_key: str, place: Place) -> bool:
        """Whether the author (their memory key: user lists hold keys, role lists the
        platform's role ids) may not talk to the bot here: blocked as a user or by a role,
        or on neither allow list when there are any."""
        if user_key in self.block_users or place.roles & self.block_roles:
            return True
        if self.allow_users or self.allow_roles:
            return user_key not in self.allow_users and not place.roles & self.allow_roles
        return False

    def limits_over(self, defaults: Limits) -> Limits:
        """The limits in force: this server's where it set them, else the defaults."""
        return Limits(**{name: self.limits.get(name, getattr(defaults, name)) for name in LIMITS})


def clean_ids(values: Iterable[str]) -> frozenset[str]:
    """Ids as stored: trimmed, without blanks."""
    return frozenset(v.strip() for v in values if v and v.strip())
