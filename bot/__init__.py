"""A chat bot that remembers each person: per-user history and memory items."""

from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:
    from .app import create_bot

__all__ = ["Settings", "create_bot"]


def __getattr__(name: str) -> Any:
    # Lazy: the Discord front end pulls in discord.py and the agents SDK (~1.5 s to import).
    if name == "create_bot":
        from .app import create_bot

        return create_bot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
