"""Message splitting and embed building for Discord: pure functions, no bot needed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import discord
import pytest

from bot.core.commands import HistoryView
from bot.core.domain import HistoryPage, MemoryItem, MemorySource, UserMemory
from bot.core.syntax import CommandSyntax
from bot.frontends.discord.render import (
    AUTHOR_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MESSAGE_LIMIT,
    SHORTENED_NOTE,
    TITLE_LIMIT,
    TRUNCATED,
    clip,
    embed_size,
    fit_embed,
    history_embed,
    split_message,
    turn_embed,
)


def fence_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.lstrip().startswith("```")]


def words(text: str) -> list[str]:
    return [w for w in text.split() if not w.startswith("```")]


def test_short_text_is_one_message_and_blank_text_none() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("x" * MESSAGE_LIMIT) == ["x" * MESSAGE_LIMIT]
    assert split_message("  \n ") == []
    with pytest.raises(ValueError):
        split_message("text", limit=10)


def test_prose_splits_between_words_under_the_limit() -> None:
    text = " ".join(f"word{n}" for n in range(1500))
    parts = split_message(text)
    assert len(parts) > 1
    assert all(0 < len(p) <= MESSAGE_LIMIT for p in parts)
    assert words(" ".join(parts)) == words(text)
    # Every cut fell on a space: no word is split across two messages.
    assert all(p.split()[-1].startswith("word") for p in parts)


def test_lines_are_preferred_over_words() -> None:
    paragraph = "a " * 400
    text = "\n".join([paragraph.strip()] * 6)  # six lines of 799 characters
    parts = split_message(text)
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert all(p.split("\n")[0] == paragraph.strip() for p in parts)


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language() -> None:
    body = "\n".join(f"print({n})  # {'z' * 30}" for n in range(120))
    text = f"Intro line.\n```python\n{body}\n```\nOutro line."
    parts = split_message(text)
    assert len(parts) >= 3
    for part in parts:
        assert len(part) <= MESSAGE_LIMIT
        assert len(fence_lines(part)) % 2 == 0, part
    assert parts[0].startswith("Intro line.\n```python\n") and parts[0].endswith("\n```")
    assert all(p.startswith("```python\n") for p in parts[1:])
    assert parts[-1].endswith("```\nOutro line.")
    code = [ln for p in parts for ln in p.split("\n") if ln.startswith("print(")]
    assert code == body.split("\n")


def test_an_unbroken_token_is_cut_only_because_it_must_be() -> None:
    token = "h" * 4500
    parts = split_message(f"see {token} end")
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert parts[0] == "see"  # the word before the token is not glued to a cut
    assert "".join(parts[1:]) == token + " end"


def test_random_markdown_always_yields_valid_parts() -> None:
    rng = random.Random(7)
    for _ in range(60):
        blocks = []
        for _ in range(rng.randint(1, 25)):
            if rng.random() < 0.3:
                lang = rng.choice(["", "py", "js"])
                lines = ["x" * rng.randint(0, 300) for _ in range(rng.randint(1, 30))]
                blocks.append(f"```{lang}\n" + "\n".join(lines) + "\n```")
            else:
                blocks.append(
                    " ".join("w" * rng.randint(1, 12) for _ in range(rng.randint(1, 400)))
                )
        text = "\n\n".join(blocks)
        limit = rng.choice([MESSAGE_LIMIT, 500, 100])
        parts = split_message(text, limit)
        assert all(0 < len(p) <= limit for p in parts)
        assert all(len(fence_lines(p)) % 2 == 0 for p in parts)
        if limit == MESSAGE_LIMIT:
            assert words("\n".join(parts)) == words(text)


def test_clip_marks_what_it_cut() -> None:
    assert clip("short", 10) == "short"
    clipped = clip("x" * 100, 40)
    assert len(clipped) == 40 and clipped.endswith(TRUNCATED)


def within_limits(embed: discord.Embed) -> bool:
    return (
        len(embed.title or "") <= TITLE_LIMIT
        and len(embed.description or "") <= DESCRIPTION_LIMIT
        and len(embed.author.name or "") <= AUTHOR_LIMIT
        and len(embed.fields) <= FIELD_COUNT_LIMIT
        and all(0 < len(f.name) <= FIELD_NAME_LIMIT for f in embed.fields)
        and all(0 < len(f.value) <= FIELD_VALUE_LIMIT for f in embed.fields)
        and len(embed.footer.text or "") <= FOOTER_LIMIT
        and embed_size(embed) <= EMBED_TOTAL_LIMIT
    )


def test_fit_embed_enforces_every_limit_and_says_so() -> None:
    embed = discord.Embed(title="T" * 1000, description="D" * 10_000)
    embed.set_author(name="A" * 500)
    for n in range(40):
        embed.add_field(name=f"{n}" + "N" * 400, value="V" * 3000)
    embed.add_field(name="", value="")
    embed.set_footer(text="F" * 3000)
    fit_embed(embed)
    assert within_limits(embed), embed_size(embed)
    # The footer itself was over its limit: its cut (and mark) is what says so.
    assert embed.footer.text.startswith("F" * 100) and embed.footer.text.endswith(TRUNCATED)
    assert embed.title.endswith(TRUNCATED)


def test_fit_embed_summarises_extra_fields_and_shrinks_the_longest_text() -> None:
    embed = discord.Embed(title="History", description="facts")
    for n in range(30):
        embed.add_field(name=f"item {n}", value=f"v{n} " + "y" * (50 if n else 900))
    embed.set_footer(text="Page 1 of 1")
    fit_embed(embed)
    assert within_limits(embed)
    assert len(embed.fields) == FIELD_COUNT_LIMIT
    assert embed.fields[-1].value == "6 more entries not shown"
    assert embed.footer.text == f"Page 1 of 1 · {SHORTENED_NOTE}"
    assert embed.description == "facts"


def test_fit_embed_leaves_a_fitting_embed_alone() -> None:
    embed = discord.Embed(title="Hi", description="there")
    embed.add_field(name="a", value="b")
    embed.set_footer(text="Page 1 of 1")
    before = embed.to_dict()
    assert fit_embed(embed).to_dict() == before


def test_turn_embed_lists_each_item_with_tool_calls_and_outputs() -> None:
    items = [
        {"role": "user", "content": "What's my city?", "type": "message"},
        {"type": "function_call", "name": "read_facts", "arguments": "{}", "call_id": "c1"},
        {"type": "function_call_output", "call_id": "c1", "output": '{"city": "Lisbon"}'},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Your city is Lisbon."}]},
    ]
    embed = turn_embed(items, syntax=CommandSyntax())
    # A tool call and its output are one entry: what is counted is what is listed.
    assert embed.title == "Added to memory: 3 entries"
    assert [(f.name, f.value) for f in embed.fields] == [
        ("you", "What's my city?"),
        ("tool", 'read_facts() -> {"city": "Lisbon"}'),
        ("bot", "Your city is Lisbon."),
    ]


def test_history_embed_pages_and_empty_states() -> None:
    item = {"role": "user", "content": "hello", "type": "message"}
    stamp = datetime(2026, 11, 24, tzinfo=UTC)
    ada = UserMemory(
        [MemoryItem(1, "name", "Ada", stamp, stamp, MemorySource("discord"))], next_number=2
    )
    page = HistoryPage(items=[item], page=2, pages=3, total=21, turns=7, first_turn=3, last_turn=4)
    embed = history_embed(HistoryView(ada, page), syntax=CommandSyntax("!"))
    # The items are listed on page 1 only; later pages count them.
    assert embed.description == "What I remember about you: 1 item (!memory lists them)."
    assert embed.fields[0].name == "you" and embed.fields[0].value == "hello"
    assert embed.footer.text.startswith("Page 2 of 3 · page 1 is the newest · turns 3–4 of 7")
    assert "older: !history 3" in embed.footer.text
    first = HistoryPage(items=[item], page=1, pages=3, total=21, turns=7, first_turn=5, last_turn=7)
    assert history_embed(HistoryView(ada, first), syntax=CommandSyntax("!")).description == (
        "**Memory**\n#1 name: Ada"
    )

    nothing = UserMemory([])
    empty = history_embed(
        HistoryView(nothing, HistoryPage(items=[], page=1, pages=1, total=0)),
        syntax=CommandSyntax("!"),
    )
    assert empty.description == "**Memory**\n(nothing remembered)"
    assert empty.fields[0].value.startswith("Empty")

    beyond = history_embed(
        HistoryView(nothing, HistoryPage(items=[], page=7, pages=2, total=15, turns=5)),
        syntax=CommandSyntax("?"),
    )
    assert (
        "There is no page 7" in beyond.fields[0].value and "`?history 2`" in beyond.fields[0].value
    )
