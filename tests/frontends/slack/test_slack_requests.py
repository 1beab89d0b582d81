"""What reaches the Slack app and what it does with it: signatures, Slack's redeliveries, and
Web API failures (retried rate limits, logged errors that never lose the turn)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from slack_api_server import dm
from slack_support import SlackBot, slack_bot


class LogWatch(logging.Handler):
    """Collects log records containing `needle` and sets `seen` at the first one."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.records.append(record)
            self.seen.set()


async def test_bad_and_stale_signatures_are_refused_and_run_nothing(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        sender = bot.sender
        body = sender.event_body(dm("U1", "I'm Ada from Lisbon"))
        assert await sender.post(body, "application/json", signature="v0=" + "0" * 64) == 401
        stale = int(time.time()) - 10 * 60
        # Correctly signed, but ten minutes old: a replayed request.
        assert await sender.post(body, "application/json", timestamp=stale) == 401
        # Signed for a different body.
        good = sender.verifier.generate_signature(timestamp=str(int(time.time())), body="{}")
        assert await sender.post(body, "application/json", signature=good) == 401
        assert await sender.command("U1", "forget", bot.api.response_url, timestamp=stale) == 401

        assert bot.api.of("chat.postMessage") == [] and bot.api.of("response_url") == []
        assert await bot.chat.store.all_items(SlackBot.key("U1")) == []
        # The same request, properly signed, is answered.
        assert await sender.post(body, "application/json") == 200
        await bot.api.wait_for("chat.postMessage")


async def test_a_redelivered_event_runs_one_turn(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        event = dm("U1", "I'm Ada from Lisbon")
        assert await bot.sender.event(event, event_id="Ev0001") == 200
        await bot.api.wait_for("chat.postMessage")
        for retry in ("1", "2"):
            status = await bot.sender.event(
                event,
                event_id="Ev0001",
                headers={"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"},
            )
            assert status == 200
        # A later message of the same user queues behind any turn the retries started.
        await bot.dm("U1", "What's my city?")
        items = await bot.chat.store.all_items(SlackBot.key("U1"))
        assert [i["content"] for i in items if i.get("role") == "user"] == [
            "I'm Ada from Lisbon",
            "What's my city?",
        ]
        assert len(bot.api.of("chat.postMessage")) == 2


async def test_a_rate_limited_post_is_retried(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        bot.api.fail_next("chat.postMessage", 429, **{"Retry-After": "0"})
        reply = await bot.dm("U1", "I'm Ada from Lisbon")
        [limited] = bot.api.failed("chat.postMessage")
        assert limited.status == 429
        assert reply.body == limited.body  # the same message, sent again
        assert len(bot.api.of("chat.postMessage")) == 1


async def test_other_web_api_errors_are_logged_once_and_keep_the_turn(tmp_path: Path) -> None:
    watch = LogWatch("channel_not_found")
    logger = logging.getLogger("bot")
    logger.addHandler(watch)
    try:
        async with slack_bot(tmp_path / "m.db") as bot:
            bot.api.fail_next("chat.postMessage", 200, error="channel_not_found")
            assert await bot.sender.event(dm("U1", "I'm Ada from Lisbon")) == 200
            await asyncio.wait_for(watch.seen.wait(), 10)
            # The turn was stored all the same, and the next message is answered from it.
            reply = await bot.dm("U1", "What's my city?")
            assert reply.body["text"] == "Your city is Lisbon."
            assert len(bot.api.failed("chat.postMessage")) == 1
    finally:
        logger.removeHandler(watch)
    assert [r.getMessage() for r in watch.records] == [
        "Slack chat.postMessage failed: channel_not_found"
    ]
    assert watch.records[0].exc_info is None  # one line, no traceback


async def test_url_verification_is_answered(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        body = '{"token": "t", "challenge": "c-123", "type": "url_verification"}'
        async with bot.sender.session.post(
            bot.sender.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": str(int(time.time())),
                "X-Slack-Signature": bot.sender.verifier.generate_signature(
                    timestamp=str(int(time.time())), body=body
                ),
            },
        ) as response:
            assert response.status == 200
            assert (await response.json())["challenge"] == "c-123"
