"""What `!export` hands a person: everything stored about them, as a JSON-ready dict."""

from __future__ import annotations

from typing import Any

from agents import TResponseInputItem

from ..core.domain import FACT_NAMES, UserKey, UserMemory, utc_now
from .schema import iso


def export_document(
    user: UserKey, memory: UserMemory, history: list[TResponseInputItem]
) -> dict[str, Any]:
    """The export of one person: their memory items (name and city also as `facts`, as the
    first release exported them) and every stored history item."""
    return {
        "user": str(user),
        "exported_at": iso(utc_now()),
        "memory_paused": memory.paused,
        "facts": {
            item.kind: {"value": item.value, "updated_at": iso(item.updated_at)}
            for item in memory.items
            if item.kind in FACT_NAMES
        },
        "memory": [
            {
                "number": item.number,
                "kind": item.kind,
                "value": item.value,
                "created_at": iso(item.created_at),
                "updated_at": iso(item.updated_at),
                "source": {"frontend": item.source.frontend, "ref": item.source.ref},
            }
            for item in memory.items
        ],
        "history": history,
    }
