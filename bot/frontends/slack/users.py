"""Whose memory a Slack request touches."""

from __future__ import annotations

from ...core.domain import UserKey


def user_key(team_id: str | None, user_id: str) -> UserKey:
    """Memory keys are per workspace and user: `slack:<team_id>:<user_id>`."""
    return UserKey("slack", f"{team_id or 'unknown'}:{user_id}")
