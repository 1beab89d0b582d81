"""`python -m bot` and Slack's settings: which front end runs, and one-line start-up errors."""

from __future__ import annotations

import pytest
from slack_api_server import FakeSlackAPI

from bot.__main__ import default_frontend, main
from bot.frontends.slack.app import verify_token, web_client
from bot.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("discord", "slack", "expected"),
    [
        (None, None, "console"),
        ("d", None, "discord"),
        (None, "xoxb-1", "slack"),
        ("d", "xoxb-1", "both"),
    ],
)
def test_default_front_end(discord: str | None, slack: str | None, expected: str) -> None:
    settings = Settings(discord_token=discord, slack_bot_token=slack, env_file=None)
    assert default_frontend(settings) == expected


def test_slack_without_a_bot_token_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack"]) == 2
    err = capsys.readouterr().err
    assert err == "error: SLACK_BOT_TOKEN is not set; put it in .env or the environment.\n"


def test_http_mode_needs_the_signing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    assert main(["slack"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SLACK_SIGNING_SECRET is not set" in err
    assert "xoxb-secret-value" not in err


def test_slack_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-hidden")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "hidden-secret")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    settings = Settings(env_file=None)
    assert settings.slack_port == 3000
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert "hidden" not in repr(settings)
    monkeypatch.setenv("SLACK_PORT", "70000")
    with pytest.raises(SettingsError, match="^SLACK_PORT must be a port number from 1 to 65535"):
        Settings(env_file=None)


async def test_a_rejected_token_is_one_line() -> None:
    async with FakeSlackAPI() as api:
        settings = Settings(slack_bot_token="xoxb-wrong", slack_api_url=api.api_url, env_file=None)
        with pytest.raises(SettingsError) as raised:
            await verify_token(web_client(settings))
    assert str(raised.value) == (
        "Slack rejected SLACK_BOT_TOKEN (invalid_auth); copy the Bot User OAuth Token again."
    )
