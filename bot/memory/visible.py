"""Which of a person's history rows the bot may read: all but those an erase hid (ids up to
their `memory_settings.hidden_through`, deleted in short batches by an erase job afterwards),
and the erase generation a read saw. Every read of history goes through `visible`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select

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


def visible_after(user: Any, after: Any) -> Any:
    """`visible(user)` for ids above `after` (a value or a scalar subquery), as one lower
    bound: beside a second one (`id > hidden_through`), SQLite ranges its index scan on one
    and filters by the other, which read every row of a long history from its first."""
    hidden = hidden_through(user)
    bound = case((hidden > after, hidden), else_=after)
    return and_(_messages.session_id == user, _messages.id > bound)
