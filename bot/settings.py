"""Typed settings read from the environment and `.env`; keyword overrides win."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

ALL_CHANNELS = "*"
OPENAI_APIS = ("", "responses", "chat_completions")
# Discord IDs (snowflakes) are unsigned 64-bit numbers.
MAX_SNOWFLAKE = 2**64 - 1
MAX_SHARDS = 10_000
# A raw value is echoed in an error only when it is this short: a pasted token never is.
ECHO_LIMIT = 24


class SettingsError(ValueError):
    """A setting has a value the bot cannot use; the message names the variable."""


def _whole(default: int | None, low: int, high: int, what: str = "a whole number") -> Any:
    """A bounded integer field; `expects` words the bounds for the one-line error."""
    return Field(
        default, ge=low, le=high, json_schema_extra={"expects": f"{what} from {low} to {high}"}
    )


# A host name as DNS allows it: dot-separated labels of letters, digits, '-' (and '_').
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?"
)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return _HOST_NAME.fullmatch(ascii_host.lower()) is not None


def _user_ids(value: Any) -> Any:
    parts = value.split(",") if isinstance(value, str) else value
    ids = frozenset(str(part).strip() for part in parts if str(part).strip())
    if any(not i.replace("_", "").replace("-", "").isalnum() for i in ids):
        raise ValueError("must be comma-separated user ids (such as 1234567890,U0ABCDEF)")
    return ids


def _host(value: str) -> str:
    host = value.strip("[]")  # an IPv6 address may come bracketed
    if not _valid_host(host):
        raise ValueError("must be a host name or address, such as 127.0.0.1 or 0.0.0.0")
    return host


UserIds = Annotated[frozenset[str], BeforeValidator(_user_ids)]
Host = Annotated[str, AfterValidator(_host)]


def _http_url(value: str | None, example: str) -> str | None:
    """An http(s) URL a client can connect to: a valid host, and a port from 1 to 65535."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"must be an http(s) URL such as {example}")
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"must have a port from 1 to 65535, as in {example}")
    if not _valid_host(parts.hostname):
        raise ValueError(f"must name a valid host, as in {example}")
    return value


class Settings(BaseSettings):
    """Every knob the bot has. Field names are the lower-case environment variable names.

    Precedence: keyword overrides, then the process environment, then `.env`, then defaults.
    An empty value means the default. Secrets are `SecretStr` (shown as `**********`);
    `env_file=None` reads no `.env` at all.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # Unknown keys in .env or the environment belong to other programs; unknown keyword
        # overrides are typos and are refused in __init__.
        extra="ignore",
        frozen=True,
        # Lists such as CHAT_CHANNEL_IDS=1,2 are plain text, not JSON: the validators parse them.
        enable_decoding=False,
        validate_default=False,
    )

    discord_token: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    # Empty means "choose": offline unless a key or base URL is configured.
    bot_model: str = ""
    memory_db_path: Path = Path("data/memory.db")
    command_prefix: str = Field(
        "!", max_length=10, json_schema_extra={"expects": "1 to 10 characters, such as !"}
    )
    chat_channel_ids: frozenset[int] | Literal["*"] = frozenset()
    # How many recent user turns (with everything they caused) the model sees.
    history_window: int = _whole(10, 1, 1000)
    show_turn_embed: bool = True
    dev_guild_id: int | None = Field(
        None,
        ge=1,
        le=MAX_SNOWFLAKE,
        json_schema_extra={"expects": "a Discord server ID (a number)"},
    )
    # Which OpenAI API to speak; empty: Responses for OpenAI, Chat Completions for a base URL.
    openai_api: Literal["", "responses", "chat_completions"] = ""
    # A whole turn (every model call, retries and tool calls included) must finish in this time.
    model_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        json_schema_extra={"expects": "a number of seconds above 0 and at most 3600"},
    )
    model_max_retries: int = _whole(3, 0, 20)
    stream_replies: bool = True
    # Traces go to OpenAI only when a real OpenAI key is in use, and never when this is false.
    openai_tracing: bool = True
    # Messages per user per minute (bursts up to this many); 0 turns the limit off.
    rate_limit_per_minute: int = _whole(20, 0, 10_000)
    # Turns of one user that may wait behind the running one; more are refused politely.
    max_queued_per_user: int = _whole(10, 0, 1000)
    # Model runs in flight across all users.
    max_concurrent_turns: int = _whole(16, 1, 1000)
    max_input_chars: int = _whole(4000, 1, 100_000)
    # postgresql+asyncpg://… puts history and facts in PostgreSQL (several processes, shards);
    # unset: the SQLite file at MEMORY_DB_PATH. Not in repr: it normally holds a password.
    database_url: str | None = Field(None, repr=False)
    # Discord sharding: both unset runs one plain connection.
    shard_count: int | None = _whole(None, 1, MAX_SHARDS)
    shard_ids: tuple[int, ...] | None = None
    # Slack: a bot token runs the Slack front end; an app token selects Socket Mode, otherwise
    # events arrive over HTTP on SLACK_PORT, signed with the signing secret.
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_port: int = _whole(3000, 1, 65535, "a port number")
    slack_api_url: str = "https://slack.com/api/"
    # Running it for a community: who may change any server's settings besides its own
    # admins (user ids on any front end), the daily limits of servers that set none (0: off),
    # and the health and metrics endpoint (unset: none).
    admin_user_ids: UserIds = frozenset()
    daily_tokens_per_user: int = _whole(0, 0, 10**12)
    daily_turns_per_user: int = _whole(0, 0, 10**9)
    daily_tokens_per_server: int = _whole(0, 0, 10**12)
    metrics_port: int | None = _whole(None, 1, 65535, "a port number")
    metrics_host: Host = "127.0.0.1"

    def __init__(self, *, env_file: str | Path | None = ".env", **overrides: Any) -> None:
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        try:
            super().__init__(_env_file=env_file, **overrides)
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            raise SettingsError(
                f"{env_file} is not valid UTF-8 (line {line}, byte {exc.object[exc.start]:#04x}); "
                "save it as UTF-8 text"
            ) from None
        except OSError as exc:
            raise SettingsError(
                f"{env_file} could not be read ({exc.strerror or type(exc).__name__}); "
                "check its permissions"
            ) from None
        except SourceError:
            raise SettingsError("the environment or .env could not be read") from None

    # --- parsing and checks (they run for the environment, .env and keyword overrides) ---

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        # Surrounding blanks are always a mistake, and `KEY=` (as .env.example has) means unset.
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for name, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            cleaned[name] = value
        return cleaned

    @field_validator("memory_db_path", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @field_validator("chat_channel_ids", mode="before")
    @classmethod
    def _parse_channels(cls, value: Any) -> Any:
        message = "must be comma-separated Discord channel IDs, or * for every channel"
        if value == ALL_CHANNELS:
            return value
        parts = value.split(",") if isinstance(value, str) else value
        try:
            ids = frozenset(int(str(part).strip()) for part in parts if str(part).strip())
        except (TypeError, ValueError):
            raise ValueError(message) from None
        if any(not 0 < i <= MAX_SNOWFLAKE for i in ids):
            raise ValueError(message)
        return ids

    @field_validator("openai_api", mode="before")
    @classmethod
    def _parse_openai_api(cls, value: Any) -> Any:
        text = str(value).lower().replace("-", "_")
        if text not in OPENAI_APIS:
            raise ValueError("must be responses or chat_completions (or empty to choose)")
        return text

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: Any) -> Any:
        parts = value.split(",") if isinstance(value, str) else value
        try:
            ids = tuple(int(str(part).strip()) for part in parts if str(part).strip())
        except (TypeError, ValueError):
            raise ValueError("must be shard numbers such as 0,1") from None
        if not ids or any(not 0 <= i < MAX_SHARDS for i in ids):
            raise ValueError("must be shard numbers such as 0,1")
        return ids

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0].lower().split("+", 1)[0] if "://" in value else ""
        if scheme not in {"postgresql", "postgres"}:
            raise ValueError(
                "must be a PostgreSQL URL such as postgresql+asyncpg://user:pw@host/db"
            )
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return _http_url(value, "http://localhost:11434/v1")

    @field_validator("slack_api_url")
    @classmethod
    def _check_slack_url(cls, value: str) -> str:
        _http_url(value, "https://slack.com/api/")
        # The Slack SDK joins method names onto this URL; without the slash the last path
        # segment would be replaced.
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _check_shards(self) -> Settings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("SHARD_IDS needs SHARD_COUNT set too")
            if any(i >= self.shard_count for i in self.shard_ids):
                raise ValueError(f"SHARD_IDS must each be below SHARD_COUNT ({self.shard_count})")
        return self

    # --- what the rest of the bot asks ---

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

    def secret_values(self) -> list[str]:
        """Every configured secret in clear, for log redaction (the database password too)."""
        values = [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr)
        ]
        if self.database_url:
            values.append(urlsplit(self.database_url).password or "")
        return [v for v in values if v]


def _one_line(exc: ValidationError) -> str:
    """The first problem as `VARIABLE must be … (got '…')`, never echoing a secret or URL."""
    error = exc.errors()[0]
    loc = error.get("loc") or ()
    name = loc[0] if loc and isinstance(loc[0], str) else ""
    if not name:  # a check across fields: its message already names the variables
        return str(error.get("ctx", {}).get("error") or error["msg"])
    field = Settings.model_fields[name]
    if error["type"] == "value_error":
        expectation = str(error["ctx"]["error"])
    else:
        extra = field.json_schema_extra
        expects = extra.get("expects") if isinstance(extra, dict) else None
        if expects:
            expectation = f"must be {expects}"
        elif field.annotation is bool:
            expectation = "must be true or false"
        else:
            expectation = f"is invalid ({error['msg'].lower()})"
    line = f"{name.upper()} {expectation}"
    raw = error.get("input")
    quiet = "SecretStr" in str(field.annotation) or name.endswith("_url")
    if not quiet and isinstance(raw, str | int | float) and len(str(raw)) <= ECHO_LIMIT:
        line += f" (got {raw!r})"
    return line
