"""What a failure tells the person (one sentence naming its kind) and the operator (one log
line per kind, storage trouble once per episode)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import openai
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError

from .store import ErasedDuringTurn, StoreError, StoreFull

if TYPE_CHECKING:
    from .domain import UserKey

log = logging.getLogger(__name__)

NOTHING_STORED = "Nothing from this message was stored."
COMMAND_FAILED = "Sorry, that command failed on my side. It has been logged; please try again."
# What a front end says when answering a message failed outside the core (sending it).
ANSWER_FAILED = "Sorry, something went wrong while answering that. Please try again."
OPERATORS_PROBLEM = "That's for the bot's operator to fix, not you"
STORAGE_FULL = "storage_full"
STORAGE_FAILED = "storage_unavailable"
STORAGE_KINDS = frozenset({STORAGE_FULL, STORAGE_FAILED})
ERASED_MEANWHILE = "erased_meanwhile"
SDK_LOGGER = "openai.agents"
# What a failed command was trying to do, for its one-sentence answer.
COMMAND_ACTIONS = {
    "history": "show your history",
    "forget": "erase your memory",
    "export": "export your memory",
    "memory": "change your memory settings",
    "usage": "show your usage",
    "config": "show or change this server's settings",
}


class _DropSdkModelErrors(logging.Filter):
    """The SDK logs every failed model request at error level; the chat service logs each
    failed turn itself, classified (and an authentication failure only once), so the SDK's
    duplicate lines are dropped. Everything else the SDK logs passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(("Error getting response", "Error streaming response"))


_SDK_FILTER = _DropSdkModelErrors()


def quiet_sdk_model_errors() -> None:
    """Install the filter above (idempotent)."""
    sdk_logger = logging.getLogger(SDK_LOGGER)
    if _SDK_FILTER not in sdk_logger.filters:
        sdk_logger.addFilter(_SDK_FILTER)


@dataclass(frozen=True)
class Failure:
    """A classified turn failure: a short kind for logs and tests, and the user's sentence."""

    kind: str
    message: str


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _cause(exc: BaseException, wanted: Callable[[BaseException], bool]) -> BaseException | None:
    """The first exception in `exc`'s chain (itself, then its causes) that is `wanted`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if wanted(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _root(exc: BaseException) -> BaseException:
    # The SDK may wrap provider errors; the first cause that is an OpenAI error decides.
    provider = (openai.OpenAIError, TimeoutError, asyncio.TimeoutError)
    return _cause(exc, lambda e: isinstance(e, provider)) or exc


def describe_error(exc: BaseException) -> str:
    """A log-safe description: the error type, HTTP status and request id, never its text."""
    root = _root(exc)
    parts = [type(root).__name__]
    status = _status(root)
    if status is not None:
        parts.append(f"HTTP {status}")
    request_id = getattr(root, "request_id", None)
    if isinstance(request_id, str):
        parts.append(f"request {request_id}")
    return ", ".join(parts)


def storage_error(exc: BaseException) -> StoreError | None:
    """The store's error behind `exc` (raised directly, or the cause of another), if any."""
    found = _cause(exc, lambda e: isinstance(e, StoreError))
    return found if isinstance(found, StoreError) else None


class StorageHealth:
    """Logs storage failures once per episode: a full disk fails every write until the
    operator frees space, and one line says so, not one traceback per message."""

    def __init__(self, on_error: Callable[[str], None] = lambda _kind: None) -> None:
        self.down = False
        self._on_error = on_error  # every failure, by kind (the metrics count them)

    def failed(self, exc: BaseException) -> None:
        full = isinstance(storage_error(exc), StoreFull)
        self._on_error(STORAGE_FULL if full else STORAGE_FAILED)
        if self.down:
            log.debug("memory storage still failing", exc_info=exc)
            return
        self.down = True
        log.error(
            "memory storage failed: %s; nothing new is stored until this is fixed "
            "(not logged again until a write succeeds)",
            storage_error(exc),
        )
        log.debug("storage failure", exc_info=exc)

    def works(self) -> None:
        if self.down:
            self.down = False
            log.info("memory storage works again")


def command_storage_failure(exc: BaseException, action: str) -> str:
    """What a chat command says when storage fails: whose problem it is, and what to do."""
    state = "full" if isinstance(storage_error(exc), StoreFull) else "not working right now"
    return (
        f"Sorry, I couldn't {action}: the bot's storage is {state}. "
        f"{OPERATORS_PROBLEM}; please try again later."
    )


def classify_failure(exc: BaseException, *, timeout_s: float | None = None) -> Failure:
    """Map an exception from a turn to a kind and a sentence safe to show anyone.

    The sentence never contains exception text: provider errors can echo request details.
    """
    root = _root(exc)
    status = _status(root)
    if isinstance(root, TimeoutError | asyncio.TimeoutError | openai.APITimeoutError):
        limit = f" (over {timeout_s:g} seconds)" if timeout_s else ""
        return Failure(
            "timeout",
            f"Sorry, the model took too long to answer{limit}. {NOTHING_STORED} Please try again.",
        )
    if isinstance(root, openai.RateLimitError) or status == 429:
        return Failure(
            "rate_limited",
            "Sorry, the model service is rate limiting me right now. "
            f"{NOTHING_STORED} Please try again in a minute.",
        )
    if isinstance(root, openai.AuthenticationError | openai.PermissionDeniedError) or status in {
        401,
        403,
    }:
        return Failure(
            "authentication",
            "Sorry, the model service rejected my credentials, so I can't answer until the "
            f"bot's operator fixes its API key. {NOTHING_STORED}",
        )
    if isinstance(root, openai.InternalServerError) or (status is not None and status >= 500):
        return Failure(
            "server_error",
            f"Sorry, the model service had a server error. {NOTHING_STORED} Please try again.",
        )
    if isinstance(root, openai.APIConnectionError):
        return Failure(
            "connection",
            f"Sorry, I couldn't connect to the model service. {NOTHING_STORED} Please try again.",
        )
    if isinstance(root, openai.BadRequestError) or (status is not None and 400 <= status < 500):
        return Failure(
            "bad_request",
            f"Sorry, the model service rejected this request as invalid. {NOTHING_STORED}",
        )
    if isinstance(exc, ErasedDuringTurn):
        return Failure(
            ERASED_MEANWHILE,
            "Your memory was erased while I was answering this message, so I kept nothing of "
            "it, not even my answer. Please send it again if you like.",
        )
    if isinstance(root, openai.APIResponseValidationError):
        return Failure(
            "bad_response",
            "Sorry, the model service sent an answer I couldn't read. "
            f"{NOTHING_STORED} Please try again.",
        )
    stored = storage_error(exc)
    if isinstance(stored, StoreFull):
        return Failure(
            STORAGE_FULL,
            f"Sorry, I can't remember anything new right now: the bot's storage is full. "
            f"{OPERATORS_PROBLEM}. {NOTHING_STORED}",
        )
    if stored is not None:
        return Failure(
            STORAGE_FAILED,
            f"Sorry, the bot's storage is not working right now. {OPERATORS_PROBLEM}. "
            f"{NOTHING_STORED}",
        )
    if isinstance(exc, MaxTurnsExceeded | ModelBehaviorError):
        return Failure(
            "model_behavior",
            f"Sorry, the model got confused answering that. {NOTHING_STORED} Please rephrase.",
        )
    return Failure(
        "internal",
        f"Sorry, I couldn't answer that just now. {NOTHING_STORED} Please try again.",
    )


class FailureLog:
    """Logs failed turns and commands for the operator, each kind the way it helps: storage
    trouble once per episode (`StorageHealth`), a rejected API key once, provider errors by
    kind and status only (their text can echo request details), anything else with its
    traceback. Never shows exception text to users."""

    def __init__(self, health: StorageHealth) -> None:
        self.health = health
        self._auth_failure_logged = False
        self._bad_response_logged = False

    def turn_failed(self, user: UserKey, failure: Failure, exc: BaseException) -> None:
        if failure.kind in STORAGE_KINDS:
            self.health.failed(exc)
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
        if failure.kind == "bad_response" and not self._bad_response_logged:
            # Most likely the URL points at something else (a web page, a proxy): the fix.
            self._bad_response_logged = True
            log.error(
                "the model server's answer is not the OpenAI API (%s: %s); check OPENAI_BASE_URL",
                describe_error(exc),
                _root(exc),
            )
            return
        if failure.kind == "internal":
            log.error("turn for %s failed; nothing was stored", user, exc_info=exc)
            return
        if failure.kind == ERASED_MEANWHILE:
            log.info("turn for %s not stored: their memory was erased while it ran", user)
            return
        log.warning(
            "turn for %s failed: %s (%s); nothing was stored",
            user,
            failure.kind,
            describe_error(exc),
        )

    def command_failed(self, exc: BaseException, command: str) -> str:
        """The sentence for a chat command that raised, and its log entry: storage trouble
        once per episode, anything else with its traceback."""
        action = COMMAND_ACTIONS.get(command, "run that command")
        if storage_error(exc) is not None:
            self.health.failed(exc)
            return command_storage_failure(exc, action)
        log.error("command failed (%s)", action, exc_info=exc)
        return COMMAND_FAILED
