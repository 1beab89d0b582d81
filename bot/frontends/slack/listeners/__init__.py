"""Bolt listeners, grouped by kind: events (messages, mentions) and commands (`/memory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import commands, events

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from ..replies import SlackChat


def register_listeners(app: AsyncApp, slack_chat: SlackChat) -> None:
    events.register(app, slack_chat)
    commands.register(app, slack_chat)
