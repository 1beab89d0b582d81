"""The chat core's configuration: one frozen value built from `Settings`, so every default is
declared once (in `Settings`) and nothing is configured from outside after construction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .places import AnswerRule, Limits

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass(frozen=True)
class ChatConfig:
    """What the chat service, its admission and its commands need to know."""

    history_window: int  # recent user turns (with what they caused) the model sees
    command_prefix: str
    tracing_disabled: bool
    timeout_s: float  # a whole turn: every model call, retry and tool call
    model_max_retries: int
    stream: bool  # pass reply text to the front end as it arrives
    max_input_chars: int
    rate_limit_per_minute: int  # 0: no per-user rate limit
    max_queued_per_user: int
    max_concurrent_turns: int
    # Daily limits for servers (and DMs) that set none of their own; 0: no limit.
    limits: Limits = Limits()
    # Where each front end answers plain messages in servers that set nothing (Discord:
    # CHAT_CHANNEL_IDS); a front end not named here answers @mentions only.
    answer_defaults: Mapping[str, AnswerRule] = field(default_factory=dict)
    offline_model: bool = False  # the offline model spends no tokens: usage says so

    @classmethod
    def from_settings(cls, settings: Settings, *, rate_limited: bool = True) -> ChatConfig:
        """The configuration `settings` describe. `rate_limited=False` drops the per-user
        message rate limit (the console, whose one user is the operator and may pipe a whole
        file in); every other limit stays."""
        return cls(
            history_window=settings.history_window,
            command_prefix=settings.command_prefix,
            tracing_disabled=not settings.tracing_enabled,
            timeout_s=settings.model_timeout_s,
            model_max_retries=settings.model_max_retries,
            # The offline model answers at once: streaming it would only add work.
            stream=settings.stream_replies and not settings.use_offline_model,
            max_input_chars=settings.max_input_chars,
            rate_limit_per_minute=settings.rate_limit_per_minute if rate_limited else 0,
            max_queued_per_user=settings.max_queued_per_user,
            max_concurrent_turns=settings.max_concurrent_turns,
            limits=Limits(
                daily_tokens_per_user=settings.daily_tokens_per_user,
                daily_turns_per_user=settings.daily_turns_per_user,
                daily_tokens_per_server=settings.daily_tokens_per_server,
            ),
            answer_defaults={"discord": discord_default(settings.chat_channel_ids)},
            offline_model=settings.use_offline_model,
        )


def discord_default(chat_channel_ids: frozenset[int] | str) -> AnswerRule:
    """CHAT_CHANNEL_IDS as the answer rule of Discord servers that set none: `*` every
    channel, a list those channels, empty @mentions only (as before servers had settings)."""
    if chat_channel_ids == "*":
        return AnswerRule("all")
    if chat_channel_ids:
        return AnswerRule("channels", frozenset(str(i) for i in chat_channel_ids))
    return AnswerRule("mentions")
