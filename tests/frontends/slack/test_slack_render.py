"""Slack text: escaping that no model output gets past, Markdown as mrkdwn, and long answers
split within Slack's limits without breaking code blocks."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from agents.testing import ScriptedModel, assistant_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_support import slack_bot

from bot.frontends.slack.render import (
    FENCE,
    MAX_BLOCKS,
    MESSAGE_CHARS,
    SECTION_CHARS,
    escape,
    reply_messages,
    split_text,
    to_mrkdwn,
)

# A link the renderer made itself: `<https://…|text>`; nothing else may hold < or >.
OUR_LINK = re.compile(r"<https?://[^\s<>|]+(\|[^<>]*)?>")
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123>",
    "<#C0123>",
    "<!subteam^S012>",
    "&lt;!here&gt;",
    "<",
    ">",
    "&",
    "|",
    "`",
    FENCE,
    "**",
    "*",
    "_",
    "~~",
    "[x](",
    "](https://a.example/<!here>)",
    "https://a.example/<@U1>",
    "\n",
    "# ",
    "- ",
]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8)), max_size=30).map(
    "".join
)


def assert_safe(text: str) -> None:
    rest = OUR_LINK.sub("", text)
    assert "<" not in rest and ">" not in rest, text
    for link in OUR_LINK.finditer(text):
        assert not link.group(0).startswith(("<!", "<@", "<#"))


def test_markdown_becomes_mrkdwn() -> None:
    markdown = (
        "# Plan\n**bold**, *italic*, __also bold__, ~~gone~~ and `x < y`\n"
        "- see [the docs](https://docs.example/a_b?x=1&y=2)\n"
        "```python\nif a < b and c > d:\n    print('**not bold**')\n```"
    )
    assert to_mrkdwn(markdown).split("\n") == [
        "*Plan*",
        "*bold*, _italic_, *also bold*, ~gone~ and `x &lt; y`",
        "• see <https://docs.example/a_b?x=1&amp;y=2|the docs>",
        FENCE,
        "if a &lt; b and c &gt; d:",
        "    print('**not bold**')",
        FENCE,
    ]


def test_mentions_and_specials_are_escaped() -> None:
    text = to_mrkdwn("hi <!channel> <!here> <@U123> <#C1|general> & [x](javascript:alert(1))")
    assert text == (
        "hi &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;#C1|general&gt; &amp; "
        "[x](javascript:alert(1))"
    )
    assert escape("a&lt;b") == "a&amp;lt;b"  # an entity in the input shows as typed


def test_an_unclosed_code_block_is_closed() -> None:
    assert to_mrkdwn("```\ncode <!here>").split("\n") == [FENCE, "code &lt;!here&gt;", FENCE]


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_no_markdown_forms_a_mention(text: str) -> None:
    for message in reply_messages(text, [{"role": "user", "content": text}]):
        assert_safe(message["text"])
        for block in message["blocks"]:
            if block["type"] == "section":
                assert_safe(block["text"]["text"])
                assert block["text"]["verbatim"] is True
            else:
                for element in block["elements"]:
                    assert_safe(element["text"])


def _fences_balanced(text: str) -> bool:
    return [line for line in text.split("\n") if line == FENCE].__len__() % 2 == 0


def ten_thousand_characters() -> str:
    prose = " ".join(f"word{n}" for n in range(700))  # ~5,900 characters on one line
    code = "\n".join(f"line_{n} = {n} * 2  # <!here>" for n in range(120))  # ~3,500
    text = f"Intro **bold**\n\n{prose}\n\n```python\n{code}\n```\nThe end."
    return text[:10_000] if len(text) > 10_000 else text + "x" * (10_000 - len(text))


def test_a_long_answer_splits_within_limits_without_breaking_code() -> None:
    answer = ten_thousand_characters()
    assert len(answer) == 10_000
    messages = reply_messages(answer, [{"role": "user", "content": "q"}])
    assert len(messages) >= 3
    for message in messages:
        assert len(message["text"]) <= MESSAGE_CHARS
        assert _fences_balanced(message["text"])
        assert len(message["blocks"]) <= MAX_BLOCKS
        for block in message["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= SECTION_CHARS
                assert _fences_balanced(block["text"]["text"])
    # Only the last message carries what the turn stored.
    assert [m["blocks"][-1]["type"] for m in messages][-1] == "context"
    assert all(m["blocks"][-1]["type"] == "section" for m in messages[:-1])
    # Nothing lost: the pieces hold every word and every code line, in order.
    joined = "\n".join(m["text"] for m in messages)
    assert (
        re.sub(r"\s+", " ", joined.replace(FENCE, "")).split()
        == re.sub(r"\s+", " ", to_mrkdwn(answer).replace(FENCE, "")).split()
    )


@given(st.text(alphabet="ab \n`", max_size=400), st.integers(min_value=32, max_value=120))
@settings(max_examples=300, deadline=None)
def test_split_text_never_exceeds_the_limit(text: str, limit: int) -> None:
    mrkdwn = to_mrkdwn(text)
    pieces = split_text(mrkdwn, limit)
    assert all(len(piece) <= limit and piece.strip() for piece in pieces)
    assert all(_fences_balanced(piece) for piece in pieces)
    words = [w for w in mrkdwn.replace(FENCE, " ").split()]
    assert [w for p in pieces for w in p.replace(FENCE, " ").split()] == words


def run_hostile_turn(tmp_path: Path, text: str) -> list[str]:
    """Everything the real app posted to Slack for one model answer."""

    async def scenario() -> list[str]:
        model = ScriptedModel([[assistant_message(text)]])
        async with slack_bot(tmp_path / "fuzz.db", model=model) as bot:
            await bot.dm("U1", "say something")
            return [t for call in bot.api.of("chat.postMessage") for t in call.texts()]

    return asyncio.run(scenario())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hostile_text.filter(lambda s: s.strip()))
def test_model_output_never_notifies_anyone_end_to_end(tmp_path: Path, text: str) -> None:
    posted = run_hostile_turn(tmp_path, text)
    assert posted
    for shown in posted:
        assert_safe(shown)


async def test_a_ten_thousand_character_answer_is_posted_in_parts(tmp_path: Path) -> None:
    answer = ten_thousand_characters()
    model = ScriptedModel([[assistant_message(answer)]])
    async with slack_bot(tmp_path / "m.db", model=model) as bot:
        first = await bot.dm("U1", "tell me everything")
        expected = reply_messages(answer)
        posts = await bot.api.wait_for("chat.postMessage", len(expected))
        assert posts[0] is first
        assert [p.body["text"] for p in posts] == [m["text"] for m in expected]
        assert all(len(p.body["text"]) <= MESSAGE_CHARS for p in posts)
        assert posts[-1].body["blocks"][-1]["type"] == "context"
