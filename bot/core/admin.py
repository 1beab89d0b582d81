"""What a server's admins can do (`config`): see its settings, set the instructions of the
server or a channel, where the bot answers, who may talk to it and its daily limits, and
see its usage; and what anyone can see of their own usage (`usage`).

Front ends call these with structured values (Discord's slash options, a member or role
they resolved); `config_text.py` turns the text form (`config limit turns-per-user 20`,
for Slack and the console) into the same calls. The caller's right to change settings is
the front end's to establish (`Place.admin`); nothing here changes another server's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .community import Community, limit_value
from .places import LIMITS, MAX_INSTRUCTIONS_CHARS, AnswerMode, AnswerRule, Place, clean_ids
from .text import clean_text
from .usage import UsageCounts, next_reset, until

if TYPE_CHECKING:
    from .domain import UserKey
    from .store import PlaceStore

TOP_USERS = 5
# How a limit is named where people type it, and what it reads as.
LIMIT_WORDS = {
    "daily_tokens_per_user": ("tokens-per-user", "model tokens a day per person"),
    "daily_turns_per_user": ("turns-per-user", "messages a day per person"),
    "daily_tokens_per_server": ("tokens-per-server", "model tokens a day for the whole server"),
}
NO_SERVER = "Settings belong to a server: use this in a server channel, not in a direct message."
OFFLINE_NOTE = (
    "(The offline model answers here: it runs on this machine and uses no model tokens, so "
    "tokens are 0.)"
)


def _raw(value: str) -> str:
    return value


@dataclass(frozen=True)
class Names:
    """How a front end shows stored ids: a user (by memory key), a role, a channel."""

    user: Callable[[str], str] = _raw
    role: Callable[[str], str] = _raw
    channel: Callable[[str], str] = _raw


RAW_NAMES = Names()


def _amount(value: int, words: str) -> str:
    """`20 messages a day per person`, `1 message a day per person`, `no limit on …`."""
    if not value:
        return f"no limit on {words}"
    if value == 1:
        words = words.replace("messages", "message", 1).replace("tokens", "token", 1)
    return f"{value:,} {words}"


def _counts(counts: UsageCounts) -> str:
    return (
        f"{counts.turns:,} turn{'s' if counts.turns != 1 else ''}, {counts.tokens:,} tokens "
        f"({counts.input_tokens:,} in, {counts.output_tokens:,} out; "
        f"{counts.requests:,} model request{'s' if counts.requests != 1 else ''})"
    )


class ServerAdmin:
    """The `config` operations on the place's server, and the `usage` reports."""

    def __init__(self, community: Community, store: PlaceStore, *, offline: bool) -> None:
        self.community = community
        self.store = store
        self.offline = offline

    # --- reading --------------------------------------------------------------------------

    async def show(self, place: Place, names: Names = RAW_NAMES) -> str:
        """Every setting of the place's server, and where each unset one comes from."""
        if place.server_key is None:
            return NO_SERVER
        settings = await self.community.settings(place)
        lines = ["Settings of this server (changes apply to the next message):"]
        lines.append(f"  instructions (server): {settings.instructions or '(none)'}")
        for channel, text in sorted(settings.channel_instructions.items()):
            lines.append(f"  instructions in {names.channel(channel)}: {text}")
        rule = self.community.answer_rule(place, settings)
        origin = "" if settings.answer is not None else " (the bot's default)"
        shown = rule.describe()
        if rule.mode == "channels":
            listed = ", ".join(names.channel(c) for c in sorted(rule.channels))
            shown = f"channels {listed} (and @mentions anywhere)"
        lines.append(f"  answers in: {shown}{origin}")
        for label, ids, show in (
            ("allowed users", settings.allow_users, names.user),
            ("blocked users", settings.block_users, names.user),
            ("allowed roles", settings.allow_roles, names.role),
            ("blocked roles", settings.block_roles, names.role),
        ):
            lines.append(f"  {label}: {', '.join(map(show, sorted(ids))) or '(none)'}")
        if not (settings.allow_users or settings.allow_roles):
            lines.append("  (no allow list: everyone not blocked may talk to me)")
        for name in LIMITS:
            value, own = limit_value(settings, self.community.defaults, name)
            typed, words = LIMIT_WORDS[name]
            amount = _amount(value, words)
            origin = "" if own else " (the bot's default)"
            lines.append(f"  {typed}: {amount}{origin}")
        return "\n".join(lines)

    async def usage(self, place: Place, names: Names = RAW_NAMES) -> str:
        """The server's totals today and this month, and its top users."""
        if place.server_key is None:
            return NO_SERVER
        today = self.community.ledger.today()
        first = today.replace(day=1)
        day = await self.store.usage_by_user(place.scope, today, today)
        month = await self.store.usage_by_user(place.scope, first, today)
        lines = ["Usage of this server (UTC days):"]
        for label, by_user in (("today", day), ("this month", month)):
            total = sum(by_user.values(), UsageCounts())
            lines.append(f"  {label}: {_counts(total)}, {len(by_user):,} people")
            top = sorted(by_user.items(), key=lambda kv: (-kv[1].tokens, -kv[1].turns, kv[0]))
            for user, counts in top[:TOP_USERS]:
                lines.append(f"    {names.user(user)}: {_counts(counts)}")
        if self.offline:
            lines.append(OFFLINE_NOTE)
        return "\n".join(lines)

    async def personal_usage(self, user: UserKey, place: Place) -> str:
        """What `usage` shows a person: their turns and tokens today and this month, and
        the daily limits in force where they asked."""
        now = self.community.clock()
        today = self.community.ledger.today()
        first = today.replace(day=1)
        day = await self.store.usage_of(user, today, today)
        month = await self.store.usage_of(user, first, today)
        lines = [
            "Your model usage (UTC days, everywhere you talk to me):",
            f"  today: {_counts(day)}",
            f"  this month: {_counts(month)}",
        ]
        settings = await self.community.settings(place)
        limits = self.community.limits(settings)
        if limits.any:
            here = await self.store.usage_of(user, today, today, place.scope)
            parts = []
            if limits.daily_turns_per_user:
                parts.append(f"{here.turns:,} of {limits.daily_turns_per_user:,} messages")
            if limits.daily_tokens_per_user:
                parts.append(f"{here.tokens:,} of {limits.daily_tokens_per_user:,} tokens")
            if limits.daily_tokens_per_server:
                parts.append(
                    f"the server's {limits.daily_tokens_per_server:,} tokens shared by everyone"
                )
            reset = next_reset(now)
            lines.append(
                f"Daily limits here: {'; '.join(parts)}. They reset at midnight UTC "
                f"(in {until(now, reset)})."
            )
        else:
            lines.append("No daily limits apply here.")
        if self.offline:
            lines.append(OFFLINE_NOTE)
        return "\n".join(lines)

    # --- changing -------------------------------------------------------------------------

    async def set_instructions(
        self, place: Place, by: UserKey, text: str | None, channel: str | None = None
    ) -> str:
        """Set (or with None or empty text, remove) the instructions of the server or of one
        of its channels."""
        if place.server_key is None:
            return NO_SERVER
        cleaned = clean_text(text or "").strip()
        if len(cleaned) > MAX_INSTRUCTIONS_CHARS:
            return (
                f"Instructions hold at most {MAX_INSTRUCTIONS_CHARS:,} characters (these have "
                f"{len(cleaned):,}); nothing was changed."
            )
        await self.community.change(
            place, "instructions", cleaned or None, by=by, channel=channel or ""
        )
        where = "this server" if channel is None else f"channel {channel}"
        if not cleaned:
            return f"Removed the instructions of {where}."
        return (
            f"Saved the instructions of {where} ({len(cleaned):,} characters). They apply "
            "from the next message, below my memory rules, which they cannot change."
        )

    async def set_answer(
        self, place: Place, by: UserKey, mode: AnswerMode, channels: Iterable[str] = ()
    ) -> str:
        """Where plain messages are answered: every channel, the listed ones, or mentions."""
        if place.server_key is None:
            return NO_SERVER
        listed = clean_ids(channels)
        if mode == "channels" and not listed:
            return "Name at least one channel (or choose all, or mentions)."
        rule = AnswerRule(mode, listed if mode == "channels" else frozenset())
        await self.community.change(
            place, "answer", {"mode": rule.mode, "channels": sorted(rule.channels)}, by=by
        )
        return f"I now answer in {rule.describe()}."

    async def set_access(
        self,
        place: Place,
        by: UserKey,
        action: Literal["allow", "block", "remove"],
        kind: Literal["user", "role"],
        ident: str,
    ) -> str:
        """Add a user (by memory key) or a role to the allow or block list, or remove it
        from both."""
        if place.server_key is None:
            return NO_SERVER
        ident = ident.strip()
        if not ident:
            return f"Name the {kind}."
        settings = await self.community.settings(place)
        lists = {
            "allow": f"allow_{kind}s",
            "block": f"block_{kind}s",
        }
        for which, name in lists.items():
            current: frozenset[str] = getattr(settings, name)
            wanted = current | {ident} if action == which else current - {ident}
            if wanted != current:
                settings = await self.community.change(place, name, sorted(wanted) or None, by=by)
        if action == "remove":
            return f"Removed that {kind} from the allow and block lists."
        verb = "allowed" if action == "allow" else "blocked"
        note = ""
        if action == "allow":
            note = " While any allow list has entries, only those on it may talk to me."
        return f"That {kind} is now {verb}.{note}"

    async def set_limit(self, place: Place, by: UserKey, name: str, value: int | None) -> str:
        """Set a daily limit of the server (0: no limit; None: back to the bot's default)."""
        if place.server_key is None:
            return NO_SERVER
        if name not in LIMITS:
            typed = ", ".join(words[0] for words in LIMIT_WORDS.values())
            return f"There is no limit {name!r}; the limits are {typed}."
        if value is not None and not 0 <= value <= 10**12:
            return "A limit is a whole number from 0 (no limit) to 1,000,000,000,000."
        settings = await self.community.change(place, name, value, by=by)
        current, own = limit_value(settings, self.community.defaults, name)
        words = LIMIT_WORDS[name][1]
        amount = _amount(current, words)
        origin = "" if own else " (the bot's default)"
        return (
            f"The limit is now {amount}{origin}. It applies from the next message; usage "
            "counts reset every midnight UTC."
        )
