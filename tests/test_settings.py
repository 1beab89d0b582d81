from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ALL_CHANNELS, Settings, SettingsError


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
    settings = Settings(discord_token="tok-secret-123", openai_api_key="sk-secret-456")
    assert "tok-secret-123" not in repr(settings)
    assert "sk-secret-456" not in repr(settings)


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(SettingsError, match="histroy_window"):
        Settings(histroy_window=3)


def test_every_setting_is_documented() -> None:
    from dataclasses import fields

    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    for f in fields(Settings):
        name = f.name.upper()
        assert f"\n{name}=" in example, f"{name} missing from .env.example"
        assert f"`{name}`" in readme, f"{name} missing from README"


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
