from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import annotated_types
import pytest
from pydantic import SecretStr

from bot.settings import ALL_CHANNELS, Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_choose_offline_model_and_data_dir() -> None:
    settings = Settings()
    assert settings.use_offline_model
    assert settings.memory_db_path == Path("data/memory.db")
    assert settings.command_prefix == "!"
    assert settings.show_turn_embed is True


def test_environment_then_dotenv_then_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("HISTORY_WINDOW=3\nCOMMAND_PREFIX=?\nOPENAI_API_KEY=sk-file\n")
    assert Settings().history_window == 3
    monkeypatch.setenv("HISTORY_WINDOW", "5")
    settings = Settings()
    assert settings.history_window == 5  # the environment beats .env
    assert settings.command_prefix == "?"
    assert not settings.use_offline_model  # a key from .env selects a real model
    assert Settings(history_window=7).history_window == 7  # overrides beat both
    assert Settings(bot_model="offline").use_offline_model


def test_channel_list_and_wildcard() -> None:
    assert Settings(chat_channel_ids="1, 2,3").chat_channel_ids == frozenset({1, 2, 3})
    wildcard = Settings(chat_channel_ids="*")
    assert wildcard.chat_channel_ids == ALL_CHANNELS
    assert wildcard.answers_channel(42)
    assert not Settings(chat_channel_ids="1").answers_channel(42)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HISTORY_WINDOW", "many"),
        ("HISTORY_WINDOW", "0"),
        ("SHOW_TURN_EMBED", "maybe"),
        ("CHAT_CHANNEL_IDS", "general"),
        ("DEV_GUILD_ID", "x1"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        Settings()


def test_secrets_are_not_in_repr() -> None:
    settings = Settings(
        discord_token="tok-secret-123",
        openai_api_key="sk-secret-456",
        slack_bot_token="xoxb-secret-789",
        slack_app_token="xapp-secret-012",
        slack_signing_secret="signing-secret-345",
    )
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("tok-secret-123", "sk-secret-456", "xoxb-secret-789", "xapp-secret-012"):
        assert secret not in shown
    assert "signing-secret-345" not in shown
    assert isinstance(settings.slack_signing_secret, SecretStr)
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "tok-secret-123"
    assert sorted(settings.secret_values()) == sorted(
        ["tok-secret-123", "sk-secret-456", "xoxb-secret-789", "xapp-secret-012"]
        + ["signing-secret-345"]
    )


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(SettingsError, match="histroy_window"):
        Settings(histroy_window=3)


def test_every_setting_is_documented() -> None:
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `")]
    assert len(Settings.model_fields) >= 27
    for field in Settings.model_fields:
        name = field.upper()
        assert f"\n{name}=" in example, f"{name} missing from .env.example"
        assert any(line.startswith(f"| `{name}` |") for line in table), f"{name} not in README"


def test_shard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Settings().sharded
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "0, 2")
    settings = Settings()
    assert settings.sharded and settings.shard_ids == (0, 2)
    monkeypatch.setenv("SHARD_IDS", "4")
    with pytest.raises(SettingsError, match="SHARD_IDS"):
        Settings()
    monkeypatch.delenv("SHARD_COUNT")
    monkeypatch.setenv("SHARD_IDS", "0")
    with pytest.raises(SettingsError, match="SHARD_IDS"):
        Settings()


def test_database_url_must_be_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(database_url="postgresql+asyncpg://bot:pw@db/memory").database_url
    monkeypatch.setenv("DATABASE_URL", "mysql://bot:hunter2@db/memory")
    with pytest.raises(SettingsError, match="DATABASE_URL") as caught:
        Settings()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(Settings(database_url="postgres://bot:hunter2@db/m"))


def test_tracing_goes_to_openai_only_with_an_openai_key() -> None:
    assert not Settings().tracing_enabled  # offline
    assert Settings(openai_api_key="sk-x").tracing_enabled
    assert not Settings(openai_api_key="sk-x", openai_tracing="false").tracing_enabled
    assert not Settings(
        openai_api_key="sk-x", openai_base_url="http://127.0.0.1:1/v1"
    ).tracing_enabled
    assert not Settings(openai_api_key="sk-x", bot_model="offline").tracing_enabled
    assert Settings(openai_base_url="http://127.0.0.1:1/v1").model_api == "chat_completions"
    assert Settings(openai_api_key="sk-x").model_api == "responses"
    assert Settings(openai_base_url="http://x/v1", openai_api="responses").model_api == "responses"


def test_keyword_overrides_are_checked_like_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = "HISTORY_WINDOW must be a whole number from 1 to 1000 (got '0')"
    monkeypatch.setenv("HISTORY_WINDOW", "0")
    with pytest.raises(SettingsError) as from_env:
        Settings()
    assert str(from_env.value) == expected
    monkeypatch.delenv("HISTORY_WINDOW")
    with pytest.raises(SettingsError) as from_keyword:
        Settings(history_window="0")
    assert str(from_keyword.value) == expected
    with pytest.raises(SettingsError, match="^HISTORY_WINDOW must be a whole number"):
        Settings(history_window=0)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HISTORY_WINDOW", "1001", "HISTORY_WINDOW must be a whole number from 1 to 1000"),
        ("MODEL_TIMEOUT_S", "inf", "MODEL_TIMEOUT_S must be a number of seconds above 0"),
        ("MODEL_TIMEOUT_S", "3601", "MODEL_TIMEOUT_S must be a number of seconds above 0"),
        ("MODEL_MAX_RETRIES", "21", "MODEL_MAX_RETRIES must be a whole number from 0 to 20"),
        ("MAX_INPUT_CHARS", "100001", "MAX_INPUT_CHARS must be a whole number from 1 to 100000"),
        ("RATE_LIMIT_PER_MINUTE", "-1", "RATE_LIMIT_PER_MINUTE must be a whole number from 0"),
        ("SLACK_PORT", "0", "SLACK_PORT must be a port number from 1 to 65535"),
        ("SLACK_PORT", "65536", "SLACK_PORT must be a port number from 1 to 65535"),
        ("SHARD_COUNT", "10001", "SHARD_COUNT must be a whole number from 1 to 10000"),
        ("OPENAI_API", "grpc", "OPENAI_API must be responses or chat_completions"),
        ("COMMAND_PREFIX", "x" * 11, "COMMAND_PREFIX must be 1 to 10 characters"),
    ],
)
def test_numbers_are_bounded_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        Settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    with pytest.raises(SettingsError, match=f"^{variable} "):
        Settings(**{variable.lower(): value})


def test_every_number_has_an_upper_bound() -> None:
    for name, field in Settings.model_fields.items():
        if {int, float} & {field.annotation, *getattr(field.annotation, "__args__", ())}:
            uppers = [m for m in field.metadata if isinstance(m, annotated_types.Le)]
            assert uppers, f"{name.upper()} has no upper bound"


def test_a_pasted_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "MTAxNTk.Gx7aBc.very-long-discord-token-value-123"
    monkeypatch.setenv("HISTORY_WINDOW", token)
    with pytest.raises(SettingsError) as caught:
        Settings()
    assert str(caught.value) == "HISTORY_WINDOW must be a whole number from 1 to 1000"
    monkeypatch.delenv("HISTORY_WINDOW")
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://user:hunter2@models.example/v1")
    with pytest.raises(SettingsError) as caught:
        Settings()
    assert str(caught.value) == (
        "OPENAI_BASE_URL must be an http(s) URL such as http://localhost:11434/v1"
    )


def test_slack_settings(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.slack_bot_token is None and settings.slack_app_token is None
    assert settings.slack_signing_secret is None
    assert settings.slack_port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-1\nSLACK_PORT=8080\nSLACK_API_URL=http://127.0.0.1:9/api\n"
    )
    from_file = Settings()
    assert from_file.slack_bot_token == SecretStr("xoxb-1")
    assert from_file.slack_port == 8080
    # The SDK joins method names onto the base URL, which needs its trailing slash.
    assert from_file.slack_api_url == "http://127.0.0.1:9/api/"
    with pytest.raises(SettingsError, match="^SLACK_API_URL must be an http"):
        Settings(slack_api_url="slack.com/api")


def test_the_example_file_as_is_gives_the_defaults(tmp_path: Path) -> None:
    # `cp .env.example .env` is the documented first step: its empty keys mean "default".
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    assert Settings() == Settings(env_file=None)


def test_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.history_window = 3  # type: ignore[misc]


def run_console(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", "--user", "t", "--db", str(tmp_path / "m.db")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        input="hello\n",
    )


@pytest.mark.slow
def test_dotenv_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"HISTORY_WINDOW=5\nBOT_MODEL=caf\xe9\n")
    proc = run_console(tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "error: .env is not valid UTF-8 (line 2, byte 0xe9); save it as UTF-8 text\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "value", "example"),
    [
        ("OPENAI_BASE_URL", "localhost:11434/v1", "http://localhost:11434/v1"),
        ("OPENAI_BASE_URL", "ftp://127.0.0.1/v1", "http://localhost:11434/v1"),
        ("SLACK_API_URL", "slack.com/api", "https://slack.com/api/"),
    ],
)
def test_url_that_is_not_http_is_refused_at_start(
    tmp_path: Path, variable: str, value: str, example: str
) -> None:
    proc = run_console(tmp_path, **{variable: value})
    assert proc.returncode == 2
    assert proc.stderr == f"error: {variable} must be an http(s) URL such as {example}\n"
    assert not (tmp_path / "m.db").exists()


def test_community_settings(tmp_path: Path) -> None:
    defaults = Settings()
    assert defaults.admin_user_ids == frozenset()
    assert (defaults.daily_tokens_per_user, defaults.daily_turns_per_user) == (0, 0)
    assert defaults.daily_tokens_per_server == 0
    assert defaults.metrics_port is None and defaults.metrics_host == "127.0.0.1"
    (tmp_path / ".env").write_text(
        "ADMIN_USER_IDS=1234567890, U0ADMIN\nDAILY_TURNS_PER_USER=20\n"
        "DAILY_TOKENS_PER_SERVER=100000\nMETRICS_PORT=9464\nMETRICS_HOST=[::1]\n"
    )
    read = Settings()
    assert read.admin_user_ids == {"1234567890", "U0ADMIN"}
    assert read.daily_turns_per_user == 20 and read.daily_tokens_per_server == 100_000
    assert read.metrics_port == 9464 and read.metrics_host == "::1"


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("METRICS_PORT", "70000", "METRICS_PORT must be a port number from 1 to 65535"),
        ("DAILY_TURNS_PER_USER", "-1", "DAILY_TURNS_PER_USER must be a whole number from 0"),
        ("ADMIN_USER_IDS", "a b", "ADMIN_USER_IDS must be comma-separated user ids"),
        ("METRICS_HOST", "http://x/", "METRICS_HOST must be a host name or address"),
    ],
)
def test_bad_community_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        Settings()
    assert str(caught.value).startswith(said)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://127.0.0.1:99999/v1", "must have a port from 1 to 65535"),
        ("http://127.0.0.1:0/v1", "must have a port from 1 to 65535"),
        ("http://localhost:port/v1", "must have a port from 1 to 65535"),
        ("http://exa mple.com/v1", "must name a valid host"),
        ("http://-bad-.example/v1", "must name a valid host"),
        ("http://a..b/v1", "must name a valid host"),
    ],
)
def test_a_url_that_cannot_be_connected_to_is_refused(value: str, problem: str) -> None:
    for variable in ("OPENAI_BASE_URL", "SLACK_API_URL"):
        with pytest.raises(SettingsError) as caught:
            Settings(**{variable.lower(): value})
        assert str(caught.value).startswith(f"{variable} {problem}, as in http")


@pytest.mark.parametrize(
    "value", ["http://127.0.0.1:11434/v1", "https://[::1]:8443/v1", "http://my_host.lan/v1"]
)
def test_urls_that_can_be_connected_to_pass(value: str) -> None:
    assert Settings(openai_base_url=value).openai_base_url == value


@pytest.mark.slow
def test_a_port_out_of_range_is_one_line_at_start(tmp_path: Path) -> None:
    proc = run_console(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:99999/v1")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: OPENAI_BASE_URL must have a port from 1 to 65535, as in http://localhost:11434/v1\n"
    )
    assert proc.stdout == "" and not (tmp_path / "m.db").exists()
