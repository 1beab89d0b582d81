"""A real model's slow answer shows on Slack while it is written: a placeholder or preview
message, updated at most once a second per channel, that becomes the final answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel, assistant_message
from openai_server import FakeOpenAIServer, Reply
from slack_api_server import FakeSlackAPI, dm
from slack_support import SlackBot, slack_bot

from bot.core.domain import message_text
from bot.frontends.slack.render import MESSAGE_CHARS, WRITING, reply_messages
from bot.frontends.slack.replies import EDIT_INTERVAL, PLACEHOLDER, SlackChat


class UpdateTimes(dict[str, float]):
    """`SlackChat.last_update`, also keeping every moment the bot chose to update a channel's
    message: the throttle is checked on the bot's own clock, not on arrival times (a loaded
    machine delays arrivals unevenly)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, float]] = []

    def __setitem__(self, channel: str, at: float) -> None:
        self.log.append((channel, at))
        super().__setitem__(channel, at)


async def test_a_slow_answer_streams_into_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided = UpdateTimes()
    init = SlackChat.__init__

    def recording_init(self: SlackChat, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.last_update = decided

    monkeypatch.setattr(SlackChat, "__init__", recording_init)
    answer = " ".join(f"word{n}" for n in range(300))  # ~2,400 characters
    with FakeOpenAIServer() as server:
        server.enqueue(Reply(answer, chunk_size=40, delay=0.05))  # ~60 pieces over ~3 s
        async with (
            FakeSlackAPI() as api,
            slack_bot(
                tmp_path / "m.db",
                api=api,
                bot_model="test-model",
                openai_base_url=server.base_url,
                openai_api_key="test-key",
                show_turn_embed=False,
            ) as bot,
        ):
            await bot.sender.event(
                {
                    "type": "message",
                    "channel": "DU1",
                    "channel_type": "im",
                    "user": "U1",
                    "text": "tell me a long story",
                    "ts": "100.000001",
                }
            )
            # The final answer replaces the preview: an update carrying blocks.
            await api.wait_until(lambda: any("blocks" in c.body for c in api.of("chat.update")))
            stored = await bot.chat.store.all_items(SlackBot.key("U1"))
        assert server.requests[0].body["stream"] is True

    [preview] = api.of("chat.postMessage")  # one message, posted once
    updates = api.of("chat.update")
    assert all(u.body["ts"] == updates[0].body["ts"] for u in updates)
    shown = [preview, *updates]
    in_progress = [c.body["text"] for c in shown if c.body["text"].endswith(WRITING)]
    assert len(in_progress) >= 2  # it grew while being written
    for text in in_progress:
        body = text[: -len(WRITING)]
        assert body == PLACEHOLDER or answer.startswith(body)
    # While it is written, at most one post or update per interval in this channel (on the
    # bot's clock: unthrottled they would be ~50 ms apart); the final update follows at once.
    times = [at for channel, at in decided.log if channel == "DU1"]
    assert len(times) == len(shown) - 1  # every preview, and nothing else, was throttled
    assert all(b - a >= EDIT_INTERVAL - 1e-6 for a, b in zip(times, times[1:], strict=False))
    assert all(len(c.body["text"]) <= MESSAGE_CHARS for c in shown)
    final = updates[-1].body
    assert final["text"] == reply_messages(answer)[0]["text"] == answer
    assert [message_text(i) for i in stored if i.get("role") == "assistant"] == [answer]


async def test_quick_answers_post_once(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "My name is Ada")
        assert len(bot.api.of("chat.postMessage")) == 1
        assert bot.api.of("chat.update") == []


class GatedModel(ScriptedModel):
    """A scripted model that answers only once `gate` is set: a model still thinking."""

    def __init__(self, steps: list[Any], gate: asyncio.Event) -> None:
        super().__init__(steps)
        self.gate = gate

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await super().get_response(*args, **kwargs)


async def test_a_placeholder_shows_while_the_model_thinks(tmp_path: Path) -> None:
    gate = asyncio.Event()
    model = GatedModel([[assistant_message("Here **you** are.")]], gate)
    async with slack_bot(tmp_path / "m.db", model=model) as bot:
        await bot.sender.event(dm("U1", "hello?"))
        [placeholder] = await bot.api.wait_for("chat.postMessage")
        assert placeholder.body["text"] == PLACEHOLDER + WRITING
        gate.set()  # the model answers only once the placeholder is up
        [final] = await bot.api.wait_for("chat.update")
    assert final.body["ts"] == placeholder.answer["ts"]  # the placeholder became the answer
    assert final.body["channel"] == "DU1"
    assert final.body["text"] == "Here *you* are."
    assert final.body["blocks"][-1]["type"] == "context"
    assert len(bot.api.of("chat.postMessage")) == 1


async def test_an_answer_ready_while_the_placeholder_posts_still_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = asyncio.Event()
    model = GatedModel([[assistant_message("Done.")]], gate)
    async with slack_bot(tmp_path / "m.db", model=model) as bot:
        handled = asyncio.Event()
        handle = bot.chat.handle

        async def handle_and_tell(*args: Any, **kwargs: Any) -> Any:
            reply = await handle(*args, **kwargs)
            handled.set()
            return reply

        monkeypatch.setattr(bot.chat, "handle", handle_and_tell)
        release = bot.api.hold_next("chat.postMessage")  # Slack is slow to confirm it
        await bot.sender.event(dm("U1", "hello?"))
        [placeholder] = await bot.api.wait_for("chat.postMessage")
        gate.set()
        await handled.wait()  # the answer is ready while the placeholder is still in flight
        release.set()
        [final] = await bot.api.wait_for("chat.update")
    assert final.body["ts"] == placeholder.answer["ts"]
    assert final.body["text"] == "Done."
    assert len(bot.api.of("chat.postMessage")) == 1  # no second message, no orphan placeholder
