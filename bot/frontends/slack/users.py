"""Whose memory a Slack request touches, where it was written, and who may change the
workspace's settings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...core.admin import Names
from ...core.domain import UserKey
from ...core.places import Place
from .replies import call

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from ...settings import Settings

_USER = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$|^@?([A-Z0-9]+)$")

# Slack escapes `<`, `>` and `&` in everything the bot posts, so ids are shown plain.
SLACK_NAMES = Names(user=lambda key: key.rpartition(":")[2])


def user_key(team_id: str | None, user_id: str) -> UserKey:
    """Memory keys are per workspace and user: `slack:<team_id>:<user_id>`."""
    return UserKey("slack", f"{team_id or 'unknown'}:{user_id}")


def place_of(team_id: str | None, channel_id: str, *, admin: bool = False) -> Place:
    """Where a Slack message or command was written: the workspace is the server (its
    settings apply in its channels and in DMs with the bot), the channel its channel."""
    return Place("slack", server=team_id or "unknown", channel=channel_id, admin=admin)


def typed_user(team_id: str | None, typed: str) -> UserKey:
    """A user named in `/memory config allow user …`: `<@U123|ada>`, `<@U123>` or `U123`."""
    found = _USER.match(typed.strip())
    user_id = (found.group(1) or found.group(2)) if found else typed.strip()
    return user_key(team_id, user_id)


async def may_configure(settings: Settings, client: AsyncWebClient, user_id: str) -> bool:
    """A workspace admin or owner (users.info, scope users:read), or in ADMIN_USER_IDS."""
    if user_id in settings.admin_user_ids:
        return True
    info = await call("users.info", client.users_info(user=user_id))
    user = info.get("user") if info is not None else None
    return isinstance(user, dict) and bool(user.get("is_admin") or user.get("is_owner"))
