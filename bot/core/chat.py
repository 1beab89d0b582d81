"""One chat turn for one user, for every front end.

A front end hands over (user, text, place) and renders what comes back; it never touches the
store or the agent directly. The chat service runs the turn; its parts do the rest:
`Admission` (which messages may run, in what order), `Community` (each server's settings,
access lists, daily limits and usage), `Commands` (the chat commands), `FailureLog` and
`StorageHealth` (what failures tell the operator), and a `TurnObserver` (the metrics).
"""

from __future__ import annotations

import asyncio
import logging
import time
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
    Usage,
)

from .admin import ServerAdmin
from .admission import Admission, UserLocks
from .agent import build_agent, instructions, retry_settings
from .commands import Commands
from .community import Community
from .domain import AppliedChange, CommitResult, MemorySource, UserKey
from .failures import FailureLog, StorageHealth, classify_failure
from .observe import FAILED, OK, PAUSED, REFUSED, Connections, NullObserver, TurnObserver
from .places import Place
from .progress import ProgressFeed, TextSink
from .session import TurnSession
from .syntax import CommandSyntax, parse_command
from .text import EMPTY_ANSWER, MAX_REPLY_CHARS, bounded_items, cap_reply, clean_text, with_reply
from .tools import UserContext
from .usage import Clock, UsageRecord, utc_clock

if TYPE_CHECKING:
    from .config import ChatConfig
    from .store import ChatStore

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
    refused: bool = False  # not run at all (admission, access lists, daily limits)


@dataclass(frozen=True)
class Reply:
    """What a front end shows for one incoming line: a turn's result or a command's text."""

    text: str
    added: list[TResponseInputItem] = field(default_factory=list)
    is_command: bool = False
    changes: list[AppliedChange] = field(default_factory=list)
    refused: str | None = None  # why a turn did not run (not_allowed, a daily limit, ...)


def read_at(context: UserContext, session: TurnSession) -> int | None:
    """The erase generation a turn read the person's memory and history at: the older of
    the two reads (an erase between them must stop the turn landing too)."""
    memory = context.stored.generation if context.stored is not None else None
    seen = [g for g in (session.generation, memory) if g is not None]
    return min(seen) if seen else None


def paused_note(reply: str, syntax: CommandSyntax) -> str:
    """What a reply gets while memory is paused; how to resume is said once (the answer may
    already say it)."""
    resume = syntax("memory", "on")
    how = "" if resume in reply else f" {resume} resumes."
    return f"\n(Memory is paused: nothing from this conversation is stored.{how})"


class ChatService:
    """Runs turns: each user's in arrival order, users in parallel; the agent run within the
    turn's time limit, then one all-or-nothing commit of what it added and changed (and of
    what the model spent, for the usage counts)."""

    def __init__(
        self,
        store: ChatStore,
        model: Model,
        config: ChatConfig,
        *,
        observer: TurnObserver | None = None,
        clock: Clock = utc_clock,
    ) -> None:
        self.store = store
        self.config = config
        # How people type commands where no front end says otherwise (the text front ends).
        self.syntax = CommandSyntax(config.command_prefix)
        self.agent: Agent[UserContext] = build_agent(
            model, ModelSettings(retry=retry_settings(config.model_max_retries))
        )
        self._run_config = RunConfig(tracing_disabled=config.tracing_disabled)
        self.observer: TurnObserver = observer or NullObserver()
        self.connections = Connections()
        self.health = StorageHealth(self.observer.store_error)
        self.failures = FailureLog(self.health)
        self.locks = UserLocks(on_idle=lambda user: self.admission.queue_drained(user))
        self.admission = Admission(config, self.locks)
        self.community = Community(
            store, limits=config.limits, answer_defaults=config.answer_defaults, clock=clock
        )
        admin = ServerAdmin(self.community, store, offline=config.offline_model)
        self.commands = Commands(store, self.locks, self.failures, admin)

    async def turn(
        self,
        user: UserKey,
        text: str,
        on_text: TextSink | None = None,
        *,
        source: MemorySource | None = None,
        syntax: CommandSyntax | None = None,
        place: Place | None = None,
    ) -> TurnResult:
        """Run the agent for one message and store the turn, all or nothing.

        With `on_text` (and streaming on), reply text is passed to it as it arrives; the stored
        history is the same as for a non-streamed turn. Messages refused by admission get a
        short reply (or, for repeated throttled messages, an empty one: send nothing) and are
        neither run nor stored; so are messages of someone the server's lists keep out, and
        messages past a daily limit (checked when the person's turn comes up: the model is
        not called). A turn that runs over a limit finishes and counts.

        The text, the reply and every stored item are cleaned and bounded (`core.text`): a
        reply is cut at MAX_REPLY_CHARS (saying so), an empty one becomes a placeholder, and
        long tool arguments and outputs are stored as a short note. `source` says where the
        message came from (front end and message id or link), kept with each item it saves;
        `syntax` is how this person types commands, for the hints in answers; `place` is
        where it was written (its server's settings apply; default: no server).
        """
        arrived = time.perf_counter()
        syntax = syntax or self.syntax
        place = place or Place(user.frontend)
        text = clean_text(text)
        try:
            settings = await self.community.settings(place)
        except Exception as exc:
            return self._failed(user, place, exc)
        refused = self.admission.refuse(user, text, self.community.refuses(place, settings, user))
        if refused is not None:
            return self._refused(place, refused.kind, refused.reply)
        async with self.locks.hold(user):
            try:
                over = await self.community.over_limit(place, settings, user)
            except Exception as exc:
                return self._failed(user, place, exc)
            if over is not None:
                return self._refused(place, over[0], over[1])
            async with self.admission.slot():
                context = UserContext(
                    user=user,
                    store=self.store,
                    syntax=syntax,
                    place=place,
                    house_rules=settings.instructions_for(place),
                )
                try:
                    committed, reply, record, usage = await self._turn(
                        text, context, place, on_text, source
                    )
                except Exception as exc:
                    return self._failed(user, place, exc)
            # Counted before the lock passes on: the person's next message checks it.
            self.community.counted(record, user, committed.usage_today)
        self.health.works()
        self.observer.turn_ran(
            place.frontend,
            time.perf_counter() - arrived,
            usage.requests,
            usage.input_tokens,
            usage.output_tokens,
        )
        self.observer.turn_done(place.frontend, OK if committed.stored else PAUSED)
        if not committed.stored:
            reply += paused_note(reply, syntax)
        return TurnResult(
            reply=reply,
            added=committed.items,
            changes=committed.changes,
            paused=not committed.stored,
        )

    async def _turn(
        self,
        text: str,
        context: UserContext,
        place: Place,
        on_text: TextSink | None,
        source: MemorySource | None,
    ) -> tuple[CommitResult, str, UsageRecord, Usage]:
        """Run the agent and commit what it added, changed and spent."""
        user = context.user
        session = TurnSession(self.store, user, self.config.history_window)
        feed = None
        if on_text is not None and self.config.stream:
            feed = ProgressFeed(on_text, MAX_REPLY_CHARS)
        try:
            # A shared database's cross-process lock can fail (outage, pool timeout):
            # that is a failed turn like any other, so it is taken inside the `try`.
            async with self.store.turn_lock(user):
                raw, usage = await self._run(text, session, context, feed)
                reply = cap_reply(clean_text(raw).strip()) or EMPTY_ANSWER
                items = session.pending
                if reply != raw.strip():
                    # Cut, cleaned or empty: the stored reply is the one shown.
                    items = with_reply(items, reply)
                if feed is not None:
                    # The last progress edit lands before the caller shows the answer.
                    await feed.stop()
                    feed = None
                record = self.community.usage_record(
                    place, usage.requests, usage.input_tokens, usage.output_tokens
                )
                committed = await self.store.commit_turn(
                    user,
                    bounded_items(items),
                    context.changes,
                    source=source,
                    usage=record,
                    generation=read_at(context, session),
                )
        finally:
            if feed is not None:
                await feed.stop()
        return committed, reply, record, usage

    def _refused(self, place: Place, kind: str, reply: str) -> TurnResult:
        self.observer.turn_done(place.frontend, REFUSED, kind)
        return TurnResult(reply=reply, ok=False, failure=kind, refused=True)

    def _failed(self, user: UserKey, place: Place, exc: Exception) -> TurnResult:
        failure = classify_failure(exc, timeout_s=self.config.timeout_s)
        self.failures.turn_failed(user, failure, exc)
        self.observer.turn_done(place.frontend, FAILED, failure.kind)
        return TurnResult(reply=failure.message, ok=False, failure=failure.kind)

    async def _run(
        self,
        text: str,
        session: TurnSession,
        context: UserContext,
        feed: ProgressFeed | None,
    ) -> tuple[str, Usage]:
        """The agent run of one turn, within the turn's time limit; returns the reply and
        what the model spent (the SDK's usage of the run, streamed or not).

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
            # The fixed rules alone are a plain string; with house rules the instructions are
            # built per run from the context (`agent.instructions`).
            agent = (
                self.agent.clone(instructions=instructions) if context.house_rules else self.agent
            )
            if feed is not None:
                streamed = Runner.run_streamed(agent, text, **run)
                reply = await _stream(streamed, feed)
                return reply, streamed.context_wrapper.usage
            result = await Runner.run(agent, text, **run)
            return str(result.final_output or ""), result.context_wrapper.usage

    async def handle(
        self,
        user: UserKey,
        text: str,
        on_text: TextSink | None = None,
        *,
        source: MemorySource | None = None,
        syntax: CommandSyntax | None = None,
        place: Place | None = None,
    ) -> Reply:
        """One line from a text front end: a chat command, or a turn. A command that fails
        answers one sentence instead of raising."""
        syntax = syntax or self.syntax
        stripped = clean_text(text).strip()
        command = parse_command(stripped, self.config.command_prefix)
        if command is not None:
            answer = await self.commands.run(user, command, syntax, place)
            return Reply(answer, is_command=True)
        if not stripped:
            return Reply("Say something and I'll answer.", is_command=True)
        result = await self.turn(user, stripped, on_text, source=source, syntax=syntax, place=place)
        refused = result.failure if result.refused else None
        return Reply(result.reply, added=result.added, changes=result.changes, refused=refused)


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
