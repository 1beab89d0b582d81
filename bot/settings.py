"""Typed settings read from the environment and `.env`; keyword overrides win."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

ALL_CHANNELS = "*"
OPENAI_APIS = ("", "responses", "chat_completions")


class SettingsError(ValueError):
    """A setting has a value the bot cannot use; the message names the variable."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _parse_positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def _parse_port(raw: str) -> int:
    value = int(raw.strip())
    if not 1 <= value <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _parse_url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    # The SDK joins method names onto the base URL: it must end with a slash.
    return value if value.endswith("/") else value + "/"


def _parse_optional_int(raw: str) -> int | None:
    return int(raw.strip()) if raw.strip() else None


def _parse_channels(raw: str) -> frozenset[int] | str:
    text = raw.strip()
    if text == ALL_CHANNELS:
        return ALL_CHANNELS
    return frozenset(int(part) for part in text.split(",") if part.strip())


def _parse_positive_float(raw: str) -> float:
    value = float(raw.strip())
    if not value > 0 or value == float("inf"):
        raise ValueError("expected a number of seconds greater than 0")
    return value


def _parse_count(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("expected a whole number of at least 0")
    return value


def _parse_openai_api(raw: str) -> str:
    value = raw.strip().lower().replace("-", "_")
    if value not in OPENAI_APIS:
        raise ValueError("expected responses or chat_completions (or empty to choose)")
    return value


def _parse_shard_ids(raw: str) -> tuple[int, ...] | None:
    if not raw.strip():
        return None
    ids = tuple(int(part) for part in raw.split(",") if part.strip())
    if any(i < 0 for i in ids):
        raise ValueError("expected shard numbers of 0 or more, e.g. 0,1")
    return ids


def _parse_optional_positive_int(raw: str) -> int | None:
    return _parse_positive_int(raw) if raw.strip() else None


def _parse_database_url(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    scheme = value.split("://", 1)[0].lower().split("+", 1)[0] if "://" in value else ""
    if scheme not in {"postgresql", "postgres"}:
        # The URL is not echoed: it normally carries a password.
        raise ValueError("expected a PostgreSQL URL such as postgresql+asyncpg://user:pw@host/db")
    return value


def _parse_optional_str(raw: str) -> str | None:
    return raw.strip() or None


def _parse_str(raw: str) -> str:
    return raw.strip()


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("expected a file path")
    return Path(raw.strip()).expanduser()


def _parse_prefix(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a non-empty prefix such as !")
    return raw.strip()


_PARSERS: dict[str, Callable[[str], Any]] = {
    "discord_token": _parse_optional_str,
    "openai_api_key": _parse_optional_str,
    "openai_base_url": _parse_optional_str,
    "bot_model": _parse_str,
    "memory_db_path": _parse_path,
    "command_prefix": _parse_prefix,
    "chat_channel_ids": _parse_channels,
    "history_window": _parse_positive_int,
    "show_turn_embed": _parse_bool,
    "dev_guild_id": _parse_optional_int,
    "openai_api": _parse_openai_api,
    "model_timeout_s": _parse_positive_float,
    "model_max_retries": _parse_count,
    "stream_replies": _parse_bool,
    "openai_tracing": _parse_bool,
    "rate_limit_per_minute": _parse_count,
    "max_queued_per_user": _parse_count,
    "max_concurrent_turns": _parse_positive_int,
    "max_input_chars": _parse_positive_int,
    "database_url": _parse_database_url,
    "shard_count": _parse_optional_positive_int,
    "shard_ids": _parse_shard_ids,
    "slack_bot_token": _parse_optional_str,
    "slack_app_token": _parse_optional_str,
    "slack_signing_secret": _parse_optional_str,
    "slack_port": _parse_port,
    "slack_api_url": _parse_url,
}


@dataclass(frozen=True)
class Settings:
    """Every knob the bot has. Field names are the lower-case environment variable names.

    Precedence: keyword overrides, then the process environment, then `.env`, then defaults.
    Secrets are excluded from `repr` so a logged Settings never leaks them.
    """

    discord_token: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    # Empty means "choose": offline unless a key or base URL is configured.
    bot_model: str = ""
    memory_db_path: Path = Path("data/memory.db")
    command_prefix: str = "!"
    chat_channel_ids: frozenset[int] | str = frozenset()
    # How many recent user turns (with everything they caused) the model sees.
    history_window: int = 10
    show_turn_embed: bool = True
    dev_guild_id: int | None = None
    # Which OpenAI API to speak; empty: Responses for OpenAI, Chat Completions for a base URL.
    openai_api: str = ""
    # A whole turn (every model call, retries and tool calls included) must finish in this time.
    model_timeout_s: float = 60.0
    model_max_retries: int = 3
    stream_replies: bool = True
    # Traces go to OpenAI only when a real OpenAI key is in use, and never when this is false.
    openai_tracing: bool = True
    # Messages per user per minute (bursts up to this many); 0 turns the limit off.
    rate_limit_per_minute: int = 20
    # Turns of one user that may wait behind the running one; more are refused politely.
    max_queued_per_user: int = 10
    # Model runs in flight across all users.
    max_concurrent_turns: int = 16
    max_input_chars: int = 4000
    # postgresql+asyncpg://… puts history and facts in PostgreSQL (several processes, shards);
    # unset: the SQLite file at MEMORY_DB_PATH.
    database_url: str | None = field(default=None, repr=False)
    # Discord sharding: both unset runs one plain connection.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # Slack: the bot token (xoxb-) runs the Slack front end; with an app-level token (xapp-)
    # it connects by Socket Mode, otherwise it serves HTTP on SLACK_PORT, verifying every
    # request with the signing secret.
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_port: int = 3000
    # The Web API base URL (tests and proxies point it elsewhere).
    slack_api_url: str = "https://slack.com/api/"

    def __init__(self, *, env_file: str | Path | None = ".env", **overrides: Any) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        file_values: Mapping[str, str | None] = {}
        if env_file is not None and Path(env_file).is_file():
            file_values = dotenv_values(env_file)
        for f in fields(self):
            if f.name in overrides:
                value = self._coerce(f.name, overrides[f.name])
            else:
                env_name = f.name.upper()
                raw = os.environ.get(env_name, file_values.get(env_name))
                value = f.default if raw is None else self._parse(f.name, raw)
            object.__setattr__(self, f.name, value)
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise SettingsError("SHARD_IDS is invalid: SHARD_COUNT must be set with it")
            if any(i >= self.shard_count for i in self.shard_ids):
                raise SettingsError("SHARD_IDS is invalid: each id must be below SHARD_COUNT")

    @staticmethod
    def _parse(name: str, raw: str) -> Any:
        try:
            return _PARSERS[name](raw)
        except ValueError as exc:
            reason = str(exc) if "expected" in str(exc) else "not a valid value"
            # The raw value is left out: it may be a secret pasted into the wrong variable.
            raise SettingsError(f"{name.upper()} is invalid: {reason}") from None

    @classmethod
    def _coerce(cls, name: str, value: Any) -> Any:
        # Overrides may be given already typed (tests, embedding code) or as strings.
        if isinstance(value, str):
            return cls._parse(name, value)
        if name == "memory_db_path":
            return Path(value)
        if name == "chat_channel_ids" and not isinstance(value, str):
            return frozenset(int(v) for v in value)
        if name == "shard_ids" and value is not None:
            return tuple(int(v) for v in value)
        return value

    @property
    def use_offline_model(self) -> bool:
        """True when no real model is configured or the offline one is asked for."""
        if self.bot_model.lower() == "offline":
            return True
        return not (self.openai_api_key or self.openai_base_url)

    @property
    def sharded(self) -> bool:
        """Whether the Discord bot runs as an AutoShardedBot."""
        return self.shard_count is not None or self.shard_ids is not None

    @property
    def tracing_enabled(self) -> bool:
        """Whether the SDK may export traces (only to OpenAI itself, with its key)."""
        return bool(
            self.openai_tracing
            and self.openai_api_key
            and not self.openai_base_url
            and not self.use_offline_model
        )

    @property
    def model_api(self) -> str:
        """The API spoken to the model server: "responses" or "chat_completions"."""
        if self.openai_api:
            return self.openai_api
        return "chat_completions" if self.openai_base_url else "responses"

    def answers_channel(self, channel_id: int) -> bool:
        """Whether plain messages in this guild channel get an answer."""
        if self.chat_channel_ids == ALL_CHANNELS:
            return True
        return channel_id in self.chat_channel_ids
