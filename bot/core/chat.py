"""One chat turn for one user, for every front end (the chat commands are in `commands.py`).

A front end hands over (user key, text) and renders what comes back; it never touches SQLite
or the agent directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
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
from openai import AsyncOpenAI

from ..memory import MemoryStore, TurnSession
from ..memory.items import AppliedChange, MemorySource
from .agent import UserContext, build_agent, make_client, retry_settings, select_model
from .commands import MemoryCommands
from .failures import (
    COMMAND_FAILED,
    STORAGE_KINDS,
    Failure,
    StorageHealth,
    classify_failure,
    command_storage_failure,
    describe_error,
    quiet_sdk_model_errors,
    storage_error,
)
from .limits import RateLimiter
from .progress import ProgressFeed, TextSink
from .text import EMPTY_ANSWER, MAX_REPLY_CHARS, bounded_items, cap_reply, clean_text, with_reply

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

MAX_AGENT_STEPS = 6
PAUSED_NOTE = "(Memory is paused: nothing from this conversation is stored. {p}memory on resumes.)"
SLOW_DOWN = (
    "You're sending messages faster than I can answer, so I skipped this one. "
    "Please slow down a little."
)

__all__ = ["ChatService", "Reply", "TextSink", "TurnResult"]


@dataclass(frozen=True)
class TurnResult:
    """What a turn produced: the reply, and exactly the items it added to history."""

    reply: str
    added: list[TResponseInputItem] = field(default_factory=list)
    ok: bool = True
    # The failure kind (see bot.failures) when not ok: timeout, rate_limited, ...
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


class ChatService(MemoryCommands):
    """Runs turns (per-user FIFO order, users in parallel) and the chat commands."""

    def __init__(
        self,
        store: MemoryStore,
        model: Model,
        *,
        history_window: int = 10,
        command_prefix: str = "!",
        tracing_disabled: bool = True,
        model_settings: ModelSettings | None = None,
        timeout_s: float | None = None,
        stream: bool = True,
        max_input_chars: int = 4000,
        rate_limit_per_minute: int | None = None,
        max_queued_per_user: int = 10,
        max_concurrent_turns: int = 16,
    ) -> None:
        self.store = store
        self.agent: Agent[UserContext] = build_agent(model, model_settings)
        self.history_window = history_window
        self.command_prefix = command_prefix
        self.timeout_s = timeout_s
        self.stream = stream
        self._run_config = RunConfig(tracing_disabled=tracing_disabled)
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}
        self._auth_failure_logged = False
        self._storage = StorageHealth()
        # Users told their queue is full, until their queue drains: one reply per episode.
        self._queue_warned: set[str] = set()
        self._client: AsyncOpenAI | None = None
        quiet_sdk_model_errors()
        self.max_input_chars = max_input_chars
        self.max_queued_per_user = max_queued_per_user
        self._rate_limiter = RateLimiter(rate_limit_per_minute) if rate_limit_per_minute else None
        self._model_slots = asyncio.Semaphore(max_concurrent_turns)

    @classmethod
    def from_settings(
        cls,
        store: MemoryStore,
        settings: Settings,
        model: Model | None = None,
        *,
        rate_limited: bool = True,
    ) -> ChatService:
        """The service the settings describe; `model` replaces the configured one (tests).

        `rate_limited=False` drops the per-user message rate limit (the console, whose one
        user is the operator and may pipe a whole file in); every other limit stays.
        """
        client = None
        if model is None and not settings.use_offline_model:
            client = make_client(settings)
        service = cls(
            store,
            model if model is not None else select_model(settings, client),
            history_window=settings.history_window,
            command_prefix=settings.command_prefix,
            tracing_disabled=not settings.tracing_enabled,
            model_settings=ModelSettings(retry=retry_settings(settings.model_max_retries)),
            timeout_s=settings.model_timeout_s,
            # The offline model answers at once: streaming it would only add work.
            stream=settings.stream_replies and not settings.use_offline_model,
            max_input_chars=settings.max_input_chars,
            rate_limit_per_minute=settings.rate_limit_per_minute if rate_limited else 0,
            max_queued_per_user=settings.max_queued_per_user,
            max_concurrent_turns=settings.max_concurrent_turns,
        )
        service._client = client
        return service

    async def aclose(self) -> None:
        """Release the model's HTTP connections (the store is closed by its owner)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    @contextlib.asynccontextmanager
    async def _user_lock(self, user_key: str) -> AsyncIterator[None]:
        # asyncio.Lock wakes waiters in arrival order, which makes each user's turns FIFO.
        # Locks are dropped when nobody holds or waits on them, so the map stays small.
        lock = self._locks.setdefault(user_key, asyncio.Lock())
        self._lock_users[user_key] = self._lock_users.get(user_key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[user_key] -= 1
            if self._lock_users[user_key] == 0:
                del self._lock_users[user_key]
                del self._locks[user_key]
                self._queue_warned.discard(user_key)

    async def turn(
        self,
        user_key: str,
        text: str,
        on_text: TextSink | None = None,
        *,
        source: MemorySource | None = None,
    ) -> TurnResult:
        """Run the agent for one message and store the turn, all or nothing.

        With `on_text` (and streaming on), reply text is passed to it as it arrives; the stored
        history is the same as for a non-streamed turn. Messages refused by the limits get a
        short reply (or, for repeated throttled messages, an empty one: send nothing) and are
        neither run nor stored.

        The text, the reply and every stored item are cleaned and bounded (`bot.core.text`):
        a reply is cut at MAX_REPLY_CHARS (saying so), an empty one becomes a placeholder, and
        long tool arguments and outputs are stored as a short note. `source` says where the
        message came from (front end and message id or link), kept with each item it saves.
        """
        text = clean_text(text)
        refused = self._admit(user_key, text)
        if refused is not None:
            return refused
        async with self._user_lock(user_key), self._model_slots:
            session = TurnSession(self.store, user_key, self.history_window)
            context = UserContext(user_key=user_key, store=self.store)
            feed = None
            if on_text is not None and self.stream:
                feed = ProgressFeed(on_text, MAX_REPLY_CHARS)
            try:
                # A shared database's cross-process lock can fail (outage, pool timeout):
                # that is a failed turn like any other, so it is taken inside the `try`.
                async with self.store.turn_lock(user_key):
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
                        user_key, bounded_items(items), context.changes, source=source
                    )
            except Exception as exc:
                if feed is not None:
                    await feed.stop()
                failure = classify_failure(exc, timeout_s=self.timeout_s)
                self._log_failure(user_key, failure, exc)
                return TurnResult(reply=failure.message, ok=False, failure=failure.kind)
            self._storage.works()
            if not committed.stored:
                reply += "\n" + PAUSED_NOTE.format(p=self.command_prefix)
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
        async with asyncio.timeout(self.timeout_s):
            # The two reads of a turn at once, on two of the pool's connections: the history
            # window the runner asks for first, and the memory view the tools read (and the
            # answer depends on); one after the other they are a fifth of a turn's time.
            context.stored, _ = await asyncio.gather(
                self.store.memory(context.user_key), session.get_items()
            )
            if feed is not None:
                return await self._stream(Runner.run_streamed(self.agent, text, **run), feed)
            result = await Runner.run(self.agent, text, **run)
            return str(result.final_output or "")

    def _admit(self, user_key: str, text: str) -> TurnResult | None:
        """None when the message may run; otherwise the refusal to send instead."""
        if len(text) > self.max_input_chars:
            return TurnResult(
                reply=f"That message is too long ({len(text):,} characters; the limit is "
                f"{self.max_input_chars:,}). Please send a shorter one; nothing was stored.",
                ok=False,
                failure="too_long",
            )
        # Holders plus waiters of this user's lock: one running turn and its queue. Checked
        # before the rate limit, so a message refused here does not use up a rate token.
        if self._lock_users.get(user_key, 0) > self.max_queued_per_user:
            if user_key in self._queue_warned:
                return TurnResult(reply="", ok=False, failure="queue_full")
            # Told once per episode; the episode ends when this user's queue drains.
            self._queue_warned.add(user_key)
            return TurnResult(reply=SLOW_DOWN, ok=False, failure="queue_full")
        if self._rate_limiter is not None:
            allowed = self._rate_limiter.acquire(user_key)
            if allowed is None:
                return TurnResult(reply="", ok=False, failure="throttled")
            if allowed is False:
                return TurnResult(reply=SLOW_DOWN, ok=False, failure="throttled")
        return None

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

    def command_failure(self, exc: BaseException, action: str) -> str:
        """The sentence for a chat command that raised (`action`: "erase your memory"), and
        its log entry: storage trouble once per episode, anything else with its traceback."""
        if storage_error(exc) is not None:
            self._storage.failed(exc)
            return command_storage_failure(exc, action)
        log.error("command failed (%s)", action, exc_info=exc)
        return COMMAND_FAILED

    def _log_failure(self, user_key: str, failure: Failure, exc: BaseException) -> None:
        if failure.kind in STORAGE_KINDS:
            self._storage.failed(exc)
            return
        if failure.kind == "authentication":
            # Every turn would fail the same way: say it once, with the fix.
            if not self._auth_failure_logged:
                self._auth_failure_logged = True
                log.error(
                    "the model service rejected the credentials (%s): check OPENAI_API_KEY "
                    "(and OPENAI_BASE_URL)",
                    describe_error(exc),
                )
            return
        if failure.kind == "internal":
            log.error("turn for %s failed; nothing was stored", user_key, exc_info=exc)
            return
        # Provider errors are logged by kind and status only: their text can echo request
        # details, and a traceback through the HTTP client tells an operator nothing more.
        log.warning(
            "turn for %s failed: %s (%s); nothing was stored",
            user_key,
            failure.kind,
            describe_error(exc),
        )

    # --- one line from a text front end --------------------------------------------------

    async def handle(
        self,
        user_key: str,
        text: str,
        on_text: TextSink | None = None,
        *,
        source: MemorySource | None = None,
    ) -> Reply:
        """One line from a text front end: a chat command, or a turn.

        A command that fails answers one sentence (see `command_failure`) instead of raising.
        """
        stripped = clean_text(text).strip()
        if stripped.startswith(self.command_prefix):
            command = stripped[len(self.command_prefix) :]
            return Reply(await self.run_command(user_key, command), is_command=True)
        if not stripped:
            return Reply("Say something and I'll answer.", is_command=True)
        result = await self.turn(user_key, stripped, on_text, source=source)
        return Reply(result.reply, added=result.added, changes=result.changes)
