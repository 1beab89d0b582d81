"""What the operator can watch (a port): the chat service reports each turn's outcome, its
time and model usage, and storage errors to a `TurnObserver` (the wiring plugs in the
Prometheus one, `bot.ops.metrics`); front ends report whether they are connected to
`Connections`. Only kinds, front end names and numbers are reported: never user content,
user ids or secrets.
"""

from __future__ import annotations

from typing import Protocol

# Outcomes of a message that asked for a turn.
OK = "ok"
PAUSED = "paused"  # answered, nothing stored (memory paused)
REFUSED = "refused"  # not run: too long, queue full, throttled, not allowed, over a limit
FAILED = "failed"  # run, failed, nothing stored


class TurnObserver(Protocol):
    def turn_done(self, frontend: str, outcome: str, kind: str | None = None) -> None:
        """A message's outcome; `kind` names the refusal or failure."""
        ...

    def turn_ran(
        self, frontend: str, seconds: float, requests: int, input_tokens: int, output_tokens: int
    ) -> None:
        """A turn that ran to the end: its time from arrival (queue wait included) to
        stored, and what the model spent."""
        ...

    def store_error(self, kind: str) -> None:
        """The store failed an operation (`storage_full` or `storage_unavailable`)."""
        ...


class NullObserver:
    """Reports nowhere (tests, tools that build a chat service of their own)."""

    def turn_done(self, frontend: str, outcome: str, kind: str | None = None) -> None:
        pass

    def turn_ran(
        self, frontend: str, seconds: float, requests: int, input_tokens: int, output_tokens: int
    ) -> None:
        pass

    def store_error(self, kind: str) -> None:
        pass


class Connections:
    """Whether each configured front end is connected to its platform: the wiring says which
    are expected, each front end says when it connects and disconnects."""

    def __init__(self) -> None:
        self._state: dict[str, str | None] = {}  # name -> None (connected) or why not

    def expect(self, name: str) -> None:
        self._state.setdefault(name, "not connected yet")

    def connected(self, name: str) -> None:
        self._state[name] = None

    def disconnected(self, name: str, reason: str = "disconnected") -> None:
        self._state[name] = reason

    def state(self) -> dict[str, str | None]:
        return dict(self._state)

    def problems(self) -> list[str]:
        """One `name: why` per expected front end that is not connected."""
        return [f"{name}: {why}" for name, why in sorted(self._state.items()) if why is not None]
