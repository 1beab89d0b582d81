"""What a front end raises when it cannot start: one line for the operator, no traceback."""

from __future__ import annotations


class StartError(Exception):
    """A front end could not start or stay connected (a rejected token, an unreachable
    service). `str(error)` is one line naming what is wrong and what to do."""
