"""The session one turn runs with: history read from the store, additions held back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents import TResponseInputItem
from agents.memory import SessionABC, SessionSettings

if TYPE_CHECKING:
    from .domain import UserKey
    from .store import MemoryStore


class TurnSession(SessionABC):
    """The session a single turn runs with: reads the user's recent history from the store,
    and holds everything the runner adds until the turn completes.

    `pending` is exactly what the turn added. `MemoryStore.commit_turn` stores it in one
    transaction on success; on failure it is dropped, so history is as it was before the turn.
    """

    def __init__(self, store: MemoryStore, user: UserKey, user_turns: int) -> None:
        self.session_id = str(user)
        self.session_settings = SessionSettings()
        self._user = user
        self._store = store
        self._user_turns = user_turns
        self._history: list[TResponseInputItem] | None = None
        self.pending: list[TResponseInputItem] = []
        # The erase generation the history was read at (None: nothing was read).
        self.generation: int | None = None

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        if self._history is None:
            # Read once per turn: the turn lock keeps stored history unchanged meanwhile.
            window = await self._store.recent_items(self._user, self._user_turns)
            self._history, self.generation = window.items, window.generation
        items = self._history + self.pending
        return items if limit is None else items[-limit:] if limit > 0 else []

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        self.pending.extend(items)

    async def pop_item(self) -> TResponseInputItem | None:
        # Only this turn's own items can be taken back; stored history is never touched.
        return self.pending.pop() if self.pending else None

    async def clear_session(self) -> None:
        self.pending.clear()
