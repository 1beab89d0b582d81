"""Whose memory a Slack request touches."""

from __future__ import annotations


def user_key(team_id: str | None, user_id: str) -> str:
    """Memory keys are per workspace and user: `slack:<team_id>:<user_id>`."""
    return f"slack:{team_id or 'unknown'}:{user_id}"
