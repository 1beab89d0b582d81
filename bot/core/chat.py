"""One chat turn for one user, for every front end.

A front end hands over (user, text) and renders what comes back; it never touches the store or
the agent directly. The chat service runs the turn; its parts do the rest: `Admission` (which
messages may run, in what order), `Commands` (the chat commands), `FailureLog` and
`StorageHealth` (what failures tell the operator).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agents import (
    Agent,
    Model,
    ModelSettings,
    RunConfig,
    Runner,
    RunResultStreaming,
    TResponseInputItem,
)

from .admission import Admission, UserLocks
from .agent import build_agent, retry_settings
from .commands import Commands
from .domain import AppliedChange, MemorySource, UserKey
from .failures import FailureLog, StorageHealth, classify_failure
from .progress import ProgressFeed, TextSink
from .session import TurnSession
from .syntax import CommandSyntax, parse_command
from .text import EMPTY_ANSWER, MAX_REPLY_CHARS, bounded_items, cap_reply, clean_text, with_reply
from .tools import UserContext

if TYPE_CHECKING:
    from .config import ChatConfig
    from .store import MemoryStore

log = logging.getLogger(__name__)

MAX_AGENT_STEPS = 6

__all__ = ["ChatService", "Reply", "TextSink", "TurnResult"]


@dataclass(frozen=True)
class TurnResult:
    """What a turn produced: the reply, and exactly the items it added to history."""

    reply: str
    added: list[TResponseInputItem] = field(default_factory=list)
    ok: bool = True
    # The failure kind when not ok: timeout, rate_limited, too_long, throttled, ...
    failure: str | None = None
    # What the turn changed in memory (saved, corrected, forgotten items).
    changes: list[AppliedChange] = field(default_factory=list)
    paused: bool = False  # memory is paused: nothing of this turn was stored


@dataclass(frozen=True)
class Reply:
    """What a front end shows for one incoming line: a turn's result or a command's text."""

    text: str
    added: list[TResponseInputItem] = field(default_factory=list)
    is_command: bool = False
    changes: list[AppliedChange] = field(default_factory=list)


def paused_note(reply: str, syntax: CommandSyntax) -> str:
    """What a reply gets while memory is paused; how to resume is said once (the answer may
    already say it)."""
    resume = syntax("memory", "on")
    how = "" if resume in reply else f" {resume} resumes."
    return f"\n(Memory is paused: nothing from this conversation is stored.{how})"


class ChatService:
    """Runs turns: each user's in arrival order, users in parallel; the agent run within the
    turn's time limit, then one all-or-nothing commit of what it added and changed."""

    def __init__(self, store: MemoryStore, model: Model, config: ChatConfig) -> None:
        self.store = store
        self.config = config
        # How people type commands where no front end says otherwise (the text front ends).
        self.syntax = CommandSyntax(config.command_prefix)
        self.agent: Agent[UserContext] = build_agent(
            model, ModelSettings(retry=retry_settings(config.model_max_retries))
        )
        self._run_config = RunConfig(tracing_disabled=config.tracing_disabled)
        self.health = StorageHealth()
        self.failures = FailureLog(self.health)
        self.locks = UserLocks(on_idle=lambda user: self.admission.queue_drained(user))
        self.admission = Admission(config, self.locks)
        self.commands = Commands(store, self.locks, self.failures)

    async def turn(
        self,
        user: UserKey,
        text: str,
        on_text: TextSink | None = None,
        *,
        source: MemorySource | None = None,
        syntax: CommandSyntax | None = None,
    ) -> TurnResult:
        """Run the agent for one message and store the turn, all or nothing.

        With `on_text` (and streaming on), reply text is passed to it as it arrives; the stored
        history is the same as for a non-streamed turn. Messages refused by admission get a
        short reply (or, for repeated throttled messages, an empty one: send nothing) and are
        neither run nor stored.

        The text, the reply and every stored item are cleaned and bounded (`core.text`): a
        reply is cut at MAX_REPLY_CHARS (saying so), an empty one becomes a placeholder, and
        long tool arguments and outputs are stored as a short note. `source` says where the
        message came from (front end and message id or link), kept with each item it saves;
        `syntax` is how this person types commands, for the hints in answers.
        """
        syntax = syntax or self.syntax
        text = clean_text(text)
        refused = self.admission.refuse(user, text)
        if refused is not None:
            return TurnResult(reply=refused.reply, ok=False, failure=refused.kind)
        async with self.locks.hold(user), self.admission.slot():
            session = TurnSession(self.store, user, self.config.history_window)
            context = UserContext(user=user, store=self.store, syntax=syntax)
            feed = None
            if on_text is not None and self.config.stream:
                feed = ProgressFeed(on_text, MAX_REPLY_CHARS)
            try:
                # A shared database's cross-process lock can fail (outage, pool timeout):
                # that is a failed turn like any other, so it is taken inside the `try`.
                async with self.store.turn_lock(user):
                    raw = await self._run(text, session, context, feed)
                    reply = cap_reply(clean_text(raw).strip()) or EMPTY_ANSWER
                    items = session.pending
                    if reply != raw.strip():
                        # Cut, cleaned or empty: the stored reply is the one shown.
                        items = with_reply(items, reply)
                    if feed is not None:
                        # The last progress edit lands before the caller shows the answer.
                        await feed.stop()
                    committed = await self.store.commit_turn(
                        user, bounded_items(items), context.changes, source=source
                    )
            except Exception as exc:
                if feed is not None:
                    await feed.stop()
                failure = classify_failure(exc, timeout_s=self.config.timeout_s)
                self.failures.turn_failed(user, failure, exc)
                return TurnResult(reply=failure.message, ok=False, failure=failure.kind)
            self.health.works()
            if not committed.stored:
                reply += paused_note(reply, syntax)
            return TurnResult(
                reply=reply,
                added=committed.items,
                changes=committed.changes,
                paused=not committed.stored,
            )

    async def _run(
        self,
        text: str,
        session: TurnSession,
        context: UserContext,
        feed: ProgressFeed | None,
    ) -> str:
        """The agent run of one turn, within the turn's time limit; returns the reply.

        The limit covers every model call, retry and tool call, but neither the progress
        display (it runs beside the run, see `ProgressFeed`) nor the commit that follows: a
        commit cut off halfway would be reported as failed yet land.
        """
        run = {
            "session": session,
            "context": context,
            "max_turns": MAX_AGENT_STEPS,
            "run_config": self._run_config,
        }
        async with asyncio.timeout(self.config.timeout_s):
            # The two reads of a turn at once, on two of the pool's connections: the history
            # window the runner asks for first, and the memory view the tools read (and the
            # answer depends on); one after the other they are a fifth of a turn's time.
            context.stored, _ = await asyncio.gather(
                self.store.memory(context.user), session.get_items()
            )
            if feed is not None:
                return await self._stream(Runner.run_streamed(self.agent, text, **run), feed)
            result = await Runner.run(self.agent, text, **run)
            return str(result.final_output or "")

    @staticmethod
    async def _stream(streamed: RunResultStreaming, feed: ProgressFeed) -> str:
        """Record text deltas as they arrive (never waiting on a front end); the final output
        when done."""
        try:
            async for event in streamed.stream_events():
                if event.type != "raw_response_event":
                    continue
                if getattr(event.data, "type", None) == "response.output_text.delta":
                    feed.record(clean_text(str(event.data.delta)))
        except BaseException:
            streamed.cancel()
            raise
        return str(streamed.final_output or "")

    async def handle(
        self,
        user: UserKey,
        text: str,
        on_text: TextSink | None = None,
        *,
        source: MemorySource | None = None,
        syntax: CommandSyntax | None = None,
    ) -> Reply:
        """One line from a text front end: a chat command, or a turn. A command that fails
        answers one sentence instead of raising."""
        syntax = syntax or self.syntax
        stripped = clean_text(text).strip()
        command = parse_command(stripped, self.config.command_prefix)
        if command is not None:
            return Reply(await self.commands.run(user, command, syntax), is_command=True)
        if not stripped:
            return Reply("Say something and I'll answer.", is_command=True)
        result = await self.turn(user, stripped, on_text, source=source, syntax=syntax)
        return Reply(result.reply, added=result.added, changes=result.changes)
