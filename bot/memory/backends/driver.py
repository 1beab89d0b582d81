"""What a database driver said, for the back ends' one-line translations of its errors."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


def driver_message(exc: BaseException) -> str:
    """The driver's own error text, lower case (empty for errors that did not come from the
    driver)."""
    return str(exc.orig).lower() if isinstance(exc, DBAPIError) else ""
