"""What people read, worded once and sensibly: pages far past the end, paused memory, the
prefix typed apart from the command, the too-long limit, an asked-for model not in use."""

from __future__ import annotations

import pytest
from processes import console

from bot.core.admission import too_long_reply
from bot.core.chat import ChatService
from bot.core.domain import UserKey
from bot.models import offline_notice
from bot.settings import Settings

ADA = UserKey.parse("console:ada")


async def test_a_page_far_past_the_end_is_named_as_asked(service: ChatService) -> None:
    await service.handle(ADA, "My name is Ada")
    text = (await service.handle(ADA, "!history 99999999999999999999")).text
    assert "There is no page 99999999999999999999: history has 1 page(s)." in text


async def test_a_paused_reply_says_how_to_resume_once(service: ChatService) -> None:
    await service.handle(ADA, "!memory off")
    for line in ("remember that I like tea", "hello"):
        reply = (await service.handle(ADA, line)).text
        assert reply.count("!memory on") == 1, reply
        assert "(Memory is paused: nothing from this conversation is stored" in reply


@pytest.mark.parametrize("typed", ["! help", "!  help", "!"])
async def test_the_prefix_apart_from_the_command_still_works(
    service: ChatService, typed: str
) -> None:
    reply = await service.handle(ADA, typed)
    assert reply.is_command and reply.text == service.commands.help_text(service.syntax)


async def test_both_too_long_answers_word_the_limit_alike(service: ChatService) -> None:
    limit = service.config.max_input_chars
    turn = (await service.handle(ADA, "x" * (limit + 1))).text
    assert turn == (
        f"That message is too long ({limit + 1:,} characters; the limit is {limit:,} "
        "characters). Please send a shorter one; nothing was stored."
    )
    unread = too_long_reply(limit)  # the console, which refuses a line without reading it
    assert unread == (
        f"That message is too long (the limit is {limit:,} characters). Please send a "
        "shorter one; nothing was stored."
    )


def test_an_asked_for_model_without_a_server_is_named() -> None:
    notice = offline_notice(Settings(bot_model="gpt-4", env_file=None))
    assert notice == (
        "BOT_MODEL=gpt-4 is set, but neither OPENAI_API_KEY nor OPENAI_BASE_URL is: "
        "the offline model answers instead"
    )
    assert offline_notice(Settings(env_file=None)) is None
    assert offline_notice(Settings(bot_model="offline", env_file=None)) is None
    served = Settings(bot_model="gpt-4", openai_base_url="http://127.0.0.1:1/v1", env_file=None)
    assert offline_notice(served) is None


@pytest.mark.slow
def test_the_console_says_which_model_answers_in_one_log_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from processes import bot_env

    proc = console("hello", db=tmp_path / "m.db", env=bot_env(BOT_MODEL="gpt-4"))
    lines = [line for line in proc.stderr.splitlines() if "BOT_MODEL=gpt-4" in line]
    assert len(lines) == 1 and "WARNING" in lines[0], proc.stderr
    assert lines[0].endswith("the offline model answers instead")
