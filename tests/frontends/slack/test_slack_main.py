"""`python -m bot` and Slack's settings: which front end runs, and one-line start-up errors."""

from __future__ import annotations

import logging

import pytest
from slack_api_server import BOT_TOKEN, FakeSlackAPI

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


@pytest.mark.parametrize(("sdk_level", "formatted"), [(logging.WARNING, 0), (logging.DEBUG, 2)])
async def test_web_api_debug_lines_are_formatted_only_when_logged(
    monkeypatch: pytest.MonkeyPatch, sdk_level: int, formatted: int
) -> None:
    # The SDK builds a debug line of each request and response (headers, body) whenever its
    # logger's own level is NOTSET, however the logging is configured: the client's logger
    # carries the level that is logged, so a call formats nothing at WARNING.
    monkeypatch.setattr(logging.getLogger("slack_sdk"), "level", sdk_level)
    async with FakeSlackAPI() as api:
        settings = Settings(slack_bot_token=BOT_TOKEN, slack_api_url=api.api_url, env_file=None)
        client = web_client(settings)
        debug_lines: list[object] = []
        monkeypatch.setattr(client.logger, "debug", lambda line, *_, **__: debug_lines.append(line))
        await client.auth_test()
    assert len(debug_lines) == formatted
