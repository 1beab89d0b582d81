"""The chat core's configuration: one frozen value built from `Settings`, so every default is
declared once (in `Settings`) and nothing is configured from outside after construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
        )
