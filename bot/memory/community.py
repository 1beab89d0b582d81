"""Server settings and usage counts in the database: the core's `PlaceStore` contract.

Settings are a few rows per server, read whole when the core's cache needs them. Usage is
one row per UTC day, scope and user, added to by the turn's own commit (one upsert that
returns the new totals, so the core's daily limits never count a turn twice or miss one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.domain import UserKey, utc_now
from ..core.places import SettingRow
from ..core.usage import UsageCounts, UsageRecord
from .schema import place_settings, usage_days

if TYPE_CHECKING:
    from .backends import Backend
    from .database import Database

_settings = place_settings.c
_usage = usage_days.c
COUNT_COLUMNS = ("turns", "requests", "input_tokens", "output_tokens")


def add_usage_statement(insert: Callable[[Any], Any]) -> Any:
    """The upsert a commit adds its turn's usage with (built once per store; its INSERT is
    the dialect's), returning the row's new totals."""
    values = {
        "day": bindparam("day"),
        "scope": bindparam("scope"),
        "user_key": bindparam("user"),
        "turns": 1,
        "requests": bindparam("requests"),
        "input_tokens": bindparam("input_tokens"),
        "output_tokens": bindparam("output_tokens"),
    }
    statement = insert(usage_days).values(**values)
    return statement.on_conflict_do_update(
        index_elements=[_usage.day, _usage.scope, _usage.user_key],
        set_={
            name: getattr(_usage, name) + getattr(statement.excluded, name)
            for name in COUNT_COLUMNS
        },
    ).returning(*(getattr(_usage, name) for name in COUNT_COLUMNS))


def usage_params(user_key: str, record: UsageRecord) -> dict[str, Any]:
    return {
        "day": record.day.isoformat(),
        "scope": record.scope,
        "user": user_key,
        "requests": record.requests,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
    }


def counts(row: Any) -> UsageCounts:
    return UsageCounts(*(int(value or 0) for value in row))


async def settings_of(conn: AsyncConnection, server_key: str) -> list[SettingRow]:
    rows = await conn.execute(
        select(_settings.channel, _settings.name, _settings.value)
        .where(_settings.server == server_key)
        .order_by(_settings.channel, _settings.name)
    )
    return [SettingRow(row.channel, row.name, row.value) for row in rows]


async def set_setting(
    conn: AsyncConnection,
    insert: Callable[[Any], Any],
    key: tuple[str, str, str],
    value: str | None,
    *,
    by: str,
    stamp: datetime,
) -> None:
    server, channel, name = key
    mine = (_settings.server == server, _settings.channel == channel, _settings.name == name)
    if value is None:
        await conn.execute(delete(place_settings).where(*mine))
        return
    upsert = insert(place_settings).values(
        server=server, channel=channel, name=name, value=value, updated_at=stamp, updated_by=by
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[_settings.server, _settings.channel, _settings.name],
            set_={"value": value, "updated_at": stamp, "updated_by": by},
        )
    )


def _sums() -> list[Any]:
    return [func.sum(getattr(_usage, name)) for name in COUNT_COLUMNS]


async def by_user(
    conn: AsyncConnection, scope: str, first: date, last: date
) -> dict[str, UsageCounts]:
    rows = await conn.execute(
        select(_usage.user_key, *_sums())
        .where(
            _usage.scope == scope,
            _usage.day >= first.isoformat(),
            _usage.day <= last.isoformat(),
        )
        .group_by(_usage.user_key)
    )
    return {row[0]: counts(row[1:]) for row in rows}


async def of_user(
    conn: AsyncConnection, user_key: str, first: date, last: date, scope: str | None
) -> UsageCounts:
    query = select(*_sums()).where(
        _usage.user_key == user_key,
        _usage.day >= first.isoformat(),
        _usage.day <= last.isoformat(),
    )
    if scope is not None:
        query = query.where(_usage.scope == scope)
    return counts((await conn.execute(query)).one())


async def export_rows(conn: AsyncConnection, user_key: str) -> list[dict[str, Any]]:
    """The user's usage rows, for `!export` (counts per day and scope)."""
    rows = await conn.execute(
        select(_usage.day, _usage.scope, *(getattr(_usage, n) for n in COUNT_COLUMNS))
        .where(_usage.user_key == user_key)
        .order_by(_usage.day, _usage.scope)
    )
    return [
        {"day": row[0], "scope": row[1], **dict(zip(COUNT_COLUMNS, map(int, row[2:]), strict=True))}
        for row in rows
    ]


class PlaceRows:
    """The core's `PlaceStore` contract, for `SqlMemoryStore` (its database and back end)."""

    _db: Database
    _backend: Backend

    async def place_settings(self, server_key: str) -> list[SettingRow]:
        """Every setting of one server and its channels."""
        async with self._db.reading() as conn:
            return await settings_of(conn, server_key)

    async def set_place_setting(
        self, server_key: str, channel: str, name: str, value: str | None, *, by: UserKey
    ) -> None:
        """Store one setting (a JSON value; None removes it), noting who changed it."""
        async with self._db.writing() as conn:
            await set_setting(
                conn,
                self._backend.insert,
                (server_key, channel, name),
                value,
                by=str(by),
                stamp=utc_now(),
            )

    async def usage_by_user(self, scope: str, first: date, last: date) -> dict[str, UsageCounts]:
        """Each user's counts in `scope` over the days `first` to `last`, by user key."""
        async with self._db.reading() as conn:
            return await by_user(conn, scope, first, last)

    async def usage_of(
        self, user: UserKey, first: date, last: date, scope: str | None = None
    ) -> UsageCounts:
        """One user's counts over the days `first` to `last`, in `scope` or everywhere."""
        async with self._db.reading() as conn:
            return await of_user(conn, str(user), first, last, scope)
