"""How replies and memory look on Discord: message splitting and embeds within Discord's limits.

Pure functions over text and `discord.Embed`; nothing here talks to Discord. The shared, front
end neutral wording (one (who, text) line per stored item, the memory items) comes from
`core.render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import discord

from ...core.commands import HistoryView, SearchView
from ...core.domain import AppliedChange, UserMemory
from ...core.render import (
    describe_change,
    describe_items,
    memory_summary,
    page_turns,
    render_items,
    search_lines,
)
from ...core.splitting import split_text
from ...core.syntax import CommandSyntax

# Nothing the bot sends may notify anyone: not @everyone/@here, not roles, not users, and not
# the author of a message it replies to. Passed on every send.
NO_MENTIONS = discord.AllowedMentions.none()

MESSAGE_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_COUNT_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000

TRUNCATED = "… (truncated)"
SHORTENED_NOTE = "some text was shortened to fit Discord's limits"
EMBED_COLOUR = discord.Colour.blurple()

_BLANK = "\u200b"
# Free text is never shortened below this; the truncation mark alone is 13 characters.
_MIN_TEXT = 40


# --- text messages ------------------------------------------------------------------------


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` in Discord messages of at most `limit` characters (see `split_text`)."""
    return split_text(text, limit)


# --- embeds -------------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, visibly marked when something was cut."""
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATED):
        return text[:limit]
    return text[: limit - len(TRUNCATED)].rstrip() + TRUNCATED


def embed_size(embed: discord.Embed) -> int:
    """The characters Discord counts against the 6,000 total of one embed."""
    total = len(embed.title or "") + len(embed.description or "")
    total += len(embed.footer.text or "") + len(embed.author.name or "")
    for field in embed.fields:
        total += len(field.name or "") + len(field.value or "")
    return total


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Enforce every Discord embed limit on `embed` (in place), shortening visibly.

    Each part is clipped to its own limit and fields past the 25th are summarised in one; then,
    while the total is over 6,000, the longest text (description or a field value) is
    shortened. Whenever anything was cut the footer says so. Never raises.
    """
    shortened = False

    def cut(text: str, limit: int) -> str:
        nonlocal shortened
        if len(text) > limit:
            shortened = True
        return clip(text, limit)

    title = cut(embed.title or "", TITLE_LIMIT)
    author = cut(embed.author.name or "", AUTHOR_LIMIT)
    description = cut(embed.description or "", DESCRIPTION_LIMIT)
    # Discord rejects empty field names and values.
    fields = [
        [
            cut(f.name or "", FIELD_NAME_LIMIT) or _BLANK,
            cut(f.value or "", FIELD_VALUE_LIMIT) or _BLANK,
        ]
        for f in embed.fields
    ]
    inline = [bool(f.inline) for f in embed.fields]
    if len(fields) > FIELD_COUNT_LIMIT:
        hidden = len(fields) - (FIELD_COUNT_LIMIT - 1)
        fields = fields[: FIELD_COUNT_LIMIT - 1] + [["…", f"{hidden} more entries not shown"]]
        inline = inline[: FIELD_COUNT_LIMIT - 1] + [False]
        shortened = True
    footer = embed.footer.text or ""

    def total() -> int:
        texts = [title, author, description, footer, *(t for pair in fields for t in pair)]
        return sum(len(t) for t in texts)

    if shortened or total() > EMBED_TOTAL_LIMIT:
        footer = clip(f"{footer} · {SHORTENED_NOTE}" if footer else SHORTENED_NOTE, FOOTER_LIMIT)
    # Shrink the longest free text first: that loses the least information per character.
    while (excess := total() - EMBED_TOTAL_LIMIT) > 0:
        lengths = [len(description)] + [len(value) for _, value in fields]
        longest = max(range(len(lengths)), key=lengths.__getitem__)
        if lengths[longest] <= _MIN_TEXT:
            break
        target = max(_MIN_TEXT, lengths[longest] - excess)
        if longest == 0:
            description = clip(description, target)
        else:
            fields[longest - 1][1] = clip(fields[longest - 1][1], target)
    # Only reachable with very long field names or footers: drop fields, then cut the footer.
    while total() > EMBED_TOTAL_LIMIT and fields:
        fields.pop()
        inline.pop()
    if (excess := total() - EMBED_TOTAL_LIMIT) > 0:
        footer = clip(footer, max(0, len(footer) - excess))

    embed.title = title or None
    embed.description = description or None
    if author:
        embed.set_author(name=author, url=embed.author.url, icon_url=embed.author.icon_url)
    embed.clear_fields()
    for (name, value), is_inline in zip(fields, inline, strict=True):
        embed.add_field(name=name, value=value, inline=is_inline)
    if footer:
        embed.set_footer(text=footer, icon_url=embed.footer.icon_url)
    return embed


def turn_embed(
    items: Sequence[Mapping[str, Any]],
    changes: Sequence[AppliedChange] = (),
    *,
    syntax: CommandSyntax,
) -> discord.Embed:
    """The embed after a reply: what this turn added to the user's history, and what it
    changed in their memory (with how to undo it)."""
    listed = describe_items(items)
    count = len(listed)  # what is listed: a tool call and its output are one
    embed = discord.Embed(
        title=f"Added to memory: {count} entr{'ies' if count != 1 else 'y'}",
        colour=EMBED_COLOUR,
    )
    if changes:
        lines = [describe_change(change, syntax) for change in changes]
        embed.description = "**Memory changed**\n" + "\n".join(lines)
    for who, text in listed:
        embed.add_field(name=who, value=text, inline=False)
    return fit_embed(embed)


def memory_embed(memory: UserMemory, *, syntax: CommandSyntax) -> discord.Embed:
    """The `memory` embed: every item with its number, when and where it was saved."""
    embed = discord.Embed(title="What I remember about you", colour=EMBED_COLOUR)
    if not memory.items:
        embed.description = "Nothing yet."
    for item in memory.items:
        saved = item.updated_at.strftime("%Y-%m-%d")
        label = item.kind if item.kind != "note" else "note"
        embed.add_field(
            name=f"#{item.number} {label}",
            value=f"{clip(item.value, 1000)}\n-# saved {saved} · {item.source.frontend}",
            inline=False,
        )
    state = "paused: nothing new is stored" if memory.paused else "on"
    toggle = syntax("memory", "on" if memory.paused else "off")
    embed.set_footer(
        text=f"Memory is {state} ({toggle}) · {syntax('forget', '<number|name|city>')} erases "
        "one item"
    )
    return fit_embed(embed)


def history_embed(view: HistoryView, *, syntax: CommandSyntax) -> discord.Embed:
    """The `history` embed: memory items, then one page of stored items (page 1 is the
    newest)."""
    page = view.page
    embed = discord.Embed(title="What I remember about you", colour=EMBED_COLOUR)
    if page.page == 1:
        embed.description = "**Memory**\n" + "\n".join(render_items(view.memory))
    else:
        embed.description = memory_summary(view.memory, syntax)
    if page.turns == 0:
        embed.add_field(name="History", value="Empty: we haven't talked yet.", inline=False)
    elif page.page > page.pages:
        embed.add_field(
            name="History",
            value=f"There is no page {page.page}: history has {page.pages} page(s). "
            f"Try `{syntax('history', str(page.pages))}`.",
            inline=False,
        )
    else:
        for who, text in describe_items(page.items):
            embed.add_field(name=who, value=text, inline=False)
    if page.page <= page.pages and page.turns:
        footer = f"Page {page.page} of {page.pages} · page 1 is the newest · {page_turns(page)}"
    else:
        footer = "No such page" if page.turns else "Nothing stored yet"
    if page.page < page.pages:
        footer += f" · older: {syntax('history', str(page.page + 1))}"
    embed.set_footer(text=footer)
    return fit_embed(embed)


def search_embed(view: SearchView, *, syntax: CommandSyntax) -> discord.Embed:
    """The `search` embed: the page's matches, best first, each with who said it and when."""
    embed = discord.Embed(title=clip(f'Search: "{view.words}"', TITLE_LIMIT), colour=EMBED_COLOUR)
    if view.total == 0:
        embed.description = "Nothing you told me matches that."
    elif view.page > view.pages:
        embed.description = f"There is no page {view.page}: the matches fill {view.pages}."
    for who, text in search_lines(view):
        embed.add_field(name=who, value=text, inline=False)
    if view.total:
        footer = f"Page {min(view.page, view.pages)} of {view.pages} · best first"
        if view.page < view.pages:
            footer += f" · more: {syntax('search', f'{view.words} page {view.page + 1}')}"
        embed.set_footer(text=footer)
    return fit_embed(embed)
