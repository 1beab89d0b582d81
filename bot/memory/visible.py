"""Which of a person's history rows the bot may read: all but those an erase hid (ids up to
their `memory_settings.hidden_through`, deleted in short batches by an erase job afterwards),
and the erase generation a read saw. Every read of history goes through `visible`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from .schema import agent_messages, memory_settings

_messages = agent_messages.c
_settings = memory_settings.c


def hidden_through(user: Any) -> Any:
    """The id up to which the person's rows are hidden (0: none), as a scalar subquery."""
    return func.coalesce(
        select(_settings.hidden_through).where(_settings.user_key == user).scalar_subquery(), 0
    )


def generation(user: Any) -> Any:
    """The person's erase generation (0: never erased), as a scalar subquery."""
    return func.coalesce(
        select(_settings.erase_generation).where(_settings.user_key == user).scalar_subquery(),
        0,
    )


def visible(user: Any) -> Any:
    """The condition on `agent_messages` for the person's rows the bot may read."""
    return and_(_messages.session_id == user, _messages.id > hidden_through(user))
