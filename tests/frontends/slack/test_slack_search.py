"""`/memory search` on Slack, through the real app over signed HTTP: only the asker's own
messages, with dates, answered so only they see it."""

from __future__ import annotations

from pathlib import Path

from slack_support import slack_bot


async def test_memory_search_finds_only_my_messages_with_dates(tmp_path: Path) -> None:
    async with slack_bot(tmp_path / "m.db") as bot:
        await bot.dm("U1", "remember that my sister Clara marries in Sintra")
        await bot.dm("U2", "my cousin marries in Sintra too")
        answer = await bot.command("U1", "search Sintra")
        text = answer.body["text"]
        assert answer.body["response_type"] == "ephemeral"
        assert 'What you said that matches "Sintra"' in text
        assert "remember that my sister Clara marries in Sintra" in text
        assert "cousin" not in text  # U2's message, never U1's
        assert "[you, 20" in text  # each match with its date
        empty = await bot.command("U1", "search Nairobi")
        assert empty.body["text"] == 'I found nothing you said that matches "Nairobi".'
        usage = await bot.command("U1", "search")
        assert (
            usage.body["text"]
            == "Usage: /memory search &lt;words&gt;, e.g. /memory search wedding."
        )
        help_text = (await bot.command("U1", "help")).body["text"]
        assert "/memory search &lt;words&gt;" in help_text
