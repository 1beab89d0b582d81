"""`config` typed as text (Slack's `/memory config …`, the console's `!config …`): the
subcommand and its arguments, turned into `ServerAdmin` calls. Which server and channel it
acts on comes from the front end's `Place`, never from the text.

    config [show]                       the settings
    config instructions <text>          the server's instructions (`clear` removes them)
    config instructions here <text>     this channel's instructions
    config where all|mentions           where plain messages are answered
    config where channels <id> [<id>…]  only in these channels (and @mentions anywhere)
    config allow|block|remove user|role <id>
    config limit tokens-per-user|turns-per-user|tokens-per-server <number>|default
    config usage                        the server's usage today and this month
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from .admin import LIMIT_WORDS, RAW_NAMES, Names, ServerAdmin

if TYPE_CHECKING:
    from .domain import UserKey
    from .places import AnswerMode, Place
    from .syntax import CommandSyntax

NOT_ADMIN = (
    "Only this server's admins (and the bot's operators in ADMIN_USER_IDS) can see or change "
    "my settings here."
)
LIMIT_NAMES = {typed: name for name, (typed, _) in LIMIT_WORDS.items()}


def limit_value(typed: str) -> int | None:
    """A limit as typed: a whole number (`20`, `100,000`), or `default` (None: the bot's
    setting). Anything else raises ValueError."""
    raw = typed.strip().lower().replace(",", "").replace("_", "")
    if raw == "default":
        return None
    if raw.isascii() and raw.isdigit():
        return int(raw)
    raise ValueError(f"not a limit: {typed!r}")


def config_help(syntax: CommandSyntax) -> str:
    rows = [
        (syntax("config"), "show this server's settings"),
        (syntax("config", "instructions <text>|clear"), "the server's instructions (persona)"),
        (syntax("config", "instructions here <text>|clear"), "this channel's instructions"),
        (syntax("config", "where all|mentions"), "where I answer plain messages"),
        (syntax("config", "where channels <id> …"), "only in these channels (and @mentions)"),
        (syntax("config", "allow|block|remove user|role <id>"), "who may talk to me"),
        (
            syntax("config", "limit tokens-per-user|turns-per-user|tokens-per-server <n>|default"),
            "daily limits (0: none)",
        ),
        (syntax("config", "usage"), "this server's usage today and this month"),
    ]
    return "\n".join(f"{typed}  — {what}" for typed, what in rows)


async def run_config_text(
    admin: ServerAdmin,
    place: Place,
    by: UserKey,
    argument: str,
    syntax: CommandSyntax,
    *,
    names: Names = RAW_NAMES,
    user_key: Callable[[str], UserKey] | None = None,
) -> str:
    """The answer to `config <argument>` typed at `place` by `by` (who must be an admin
    there). `user_key` turns a typed user id into the memory key lists hold."""
    if not place.admin:
        return NOT_ADMIN
    words = argument.split()
    sub = words[0].lower() if words else "show"
    rest = words[1:]
    if sub == "show":
        return await admin.show(place, names)
    if sub == "usage":
        return await admin.usage(place, names)
    if sub == "instructions":
        channel = None
        if rest and rest[0].lower() == "here":
            channel, rest = place.channel, rest[1:]
        text = argument.split(None, 1 if channel is None else 2)[-1] if rest else ""
        if not rest or (len(rest) == 1 and rest[0].lower() == "clear"):
            text = ""
        return await admin.set_instructions(place, by, text, channel)
    if sub == "where" and rest and rest[0].lower() in ("all", "mentions", "channels"):
        mode = cast("AnswerMode", rest[0].lower())
        return await admin.set_answer(place, by, mode, rest[1:])
    if sub in ("allow", "block", "remove") and len(rest) == 2 and rest[0] in ("user", "role"):
        kind = rest[0]
        ident = rest[1] if kind == "role" or user_key is None else str(user_key(rest[1]))
        return await admin.set_access(place, by, sub, kind, ident)  # type: ignore[arg-type]
    if sub == "limit" and len(rest) == 2 and rest[0].lower() in LIMIT_NAMES:
        try:
            value = limit_value(rest[1])
        except ValueError:
            pass
        else:
            return await admin.set_limit(place, by, LIMIT_NAMES[rest[0].lower()], value)
    return f"Usage:\n{config_help(syntax)}"
