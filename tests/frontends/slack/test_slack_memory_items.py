"""Memory items on Slack: notes, `/memory`, forgetting one item, corrections and how to erase them,
and pausing memory, through the real app over signed HTTP against the fake Slack."""

from __future__ import annotations

from pathlib import Path

from slack_support import SlackBot, slack_bot

from bot.core.domain import message_text


def context_text(reply_body: dict) -> str:
    context = reply_body["blocks"][-1]
    assert context["type"] == "context"
    return context["elements"][0]["text"]


async def test_a_note_is_listed_forgotten_alone_and_gone_from_history(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        key = SlackBot.key("U1")
        await bot.dm("U1", "I'm Ada from Lisbon")
        reply = await bot.dm("U1", "remember that I'm vegetarian")
        assert "note 3" in reply.body["text"]
        # The turn says what it changed and how to erase it with the slash command.
        assert "note 3: I'm vegetarian (new) · /memory forget 3 erases it" in context_text(
            reply.body
        )
        memory = await bot.chat.commands.memory(key)
        [note] = memory.notes()
        assert note.source is not None and note.source.frontend == "slack"
        assert note.source.ref is not None and note.source.ref.startswith("DU1/")

        listed = (await bot.command("U1", "")).body["text"]
        assert "#3 note: I'm vegetarian" in listed and "#2 city: Lisbon" in listed

        forgot = (await bot.command("U1", "forget 3")).body["text"]
        assert forgot.startswith("Done. I forgot note 3 (I'm vegetarian)")
        memory = await bot.chat.commands.memory(key)
        assert [i.kind for i in memory.items] == ["name", "city"]
        stored = " ".join(
            message_text(i) if "content" in i else str(i)
            for i in await bot.chat.store.all_items(key)
        )
        assert "vegetarian" not in stored.lower() and "[forgotten]" in stored


async def test_a_correction_shows_the_old_value_and_how_to_erase_it(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "I live in Lisbon")
        reply = await bot.dm("U1", "I moved to Porto")
        assert "city: Porto (was Lisbon) · /memory forget city erases both" in context_text(
            reply.body
        )


async def test_paused_memory_stores_nothing_and_says_so(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        key = SlackBot.key("U1")
        await bot.dm("U1", "I'm Ada from Lisbon")
        before = await bot.chat.store.all_items(key)
        paused = (await bot.command("U1", "off")).body["text"]
        assert paused.startswith("Memory is paused.") and "/memory on resumes" in paused
        reply = await bot.dm("U1", "I moved to Porto")
        assert "Memory is paused" in reply.body["text"]
        assert await bot.chat.store.all_items(key) == before
        assert (await bot.chat.commands.memory(key)).facts() == {"name": "Ada", "city": "Lisbon"}
        listed = (await bot.command("U1", "")).body["text"]
        assert "paused" in listed.lower()
        resumed = (await bot.command("U1", "on")).body["text"]
        assert resumed.startswith("Memory is on again") and "/memory off pauses it" in resumed
        help_text = (await bot.command("U1", "help")).body["text"]
        # Sent escaped, so "<n>" reads as text in Slack.
        assert "/memory off|on" in help_text and "/memory forget &lt;n&gt;" in help_text
        assert "/memory memory" not in help_text
