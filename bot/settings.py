"""Typed settings read from the environment and `.env`; keyword overrides win."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

ALL_CHANNELS = "*"


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


def _parse_optional_int(raw: str) -> int | None:
    return int(raw.strip()) if raw.strip() else None


def _parse_channels(raw: str) -> frozenset[int] | str:
    text = raw.strip()
    if text == ALL_CHANNELS:
        return ALL_CHANNELS
    return frozenset(int(part) for part in text.split(",") if part.strip())


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
        return value

    @property
    def use_offline_model(self) -> bool:
        """True when no real model is configured or the offline one is asked for."""
        if self.bot_model.lower() == "offline":
            return True
        return not (self.openai_api_key or self.openai_base_url)

    def answers_channel(self, channel_id: int) -> bool:
        """Whether plain messages in this guild channel get an answer."""
        if self.chat_channel_ids == ALL_CHANNELS:
            return True
        return channel_id in self.chat_channel_ids
