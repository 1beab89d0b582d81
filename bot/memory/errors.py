"""What the store raises when it cannot do its job: one line for the operator, no traceback."""

from __future__ import annotations


class StoreError(Exception):
    """The memory store cannot be used. `str(error)` is one line naming what is wrong and how
    to fix it (shown to the operator at start-up; never the database password)."""


class StoreFull(StoreError):
    """The disk or database is full: nothing new can be stored until the operator frees
    space. Reads still work."""
