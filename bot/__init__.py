"""A chat bot that remembers each person: per-user history and profile facts."""

from .settings import Settings

__all__ = ["Settings"]
