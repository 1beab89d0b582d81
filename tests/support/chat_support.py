"""Building the chat core in tests the way the wiring does: configuration from `Settings` (the
one place defaults live) with overrides, and memory changes as the live API takes them."""

from __future__ import annotations

import dataclasses
from typing import Any

from agents import Model

from bot.core.chat import ChatService
from bot.core.config import ChatConfig
from bot.core.domain import MemoryChange
from bot.core.observe import TurnObserver
from bot.core.store import ChatStore
from bot.core.usage import Clock
from bot.models import offline_model
from bot.settings import Settings

# ChatConfig fields that no setting names directly (they are derived from several).
_DERIVED = ("stream", "tracing_disabled")


def chat_config(**overrides: Any) -> ChatConfig:
    """The configuration of `Settings(env_file=None, **overrides)`; `stream` and
    `tracing_disabled` replace the derived values."""
    derived = {name: overrides.pop(name) for name in _DERIVED if name in overrides}
    return dataclasses.replace(
        ChatConfig.from_settings(Settings(env_file=None, **overrides)), **derived
    )


# What a chat service built for a test does unless the test asks otherwise: no per-user rate
# limit and no model retries (a test that wants them says so), replies streamed when a sink
# is given (so a scripted model's text reaches it as a real model's would).
SERVICE_DEFAULTS: dict[str, Any] = {
    "rate_limit_per_minute": 0,
    "model_max_retries": 0,
    "stream": True,
}


def make_service(
    store: ChatStore,
    model: Model | None = None,
    *,
    observer: TurnObserver | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> ChatService:
    """A chat service over `store` answering with `model` (default: the offline model),
    reporting to `observer`, with `clock` as its UTC clock."""
    options = {**SERVICE_DEFAULTS, **overrides}
    prefix = options.get("command_prefix", "!")
    extra: dict[str, Any] = {"observer": observer}
    if clock is not None:
        extra["clock"] = clock
    return ChatService(store, model or offline_model(prefix), chat_config(**options), **extra)


def set_facts(**facts: str) -> list[MemoryChange]:
    """The changes a turn makes by saving these facts (`name="Ada", city="Lisbon"`)."""
    return [MemoryChange("set", kind=fact, value=value) for fact, value in facts.items()]
