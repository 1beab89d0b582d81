"""Which model answers (part of the wiring): the offline model unless a key or a base URL is
configured, else OpenAI's Responses or Chat Completions API through one HTTP client, which
whoever opens it (`opened_model`) closes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import openai
from agents import Model
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from .core.tools import forget_memory, read_facts, remember, save_facts, search_history
from .offline.model import MemoryTools, OfflineModel

if TYPE_CHECKING:
    from .settings import Settings

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
# What an OpenAI-compatible server answers a model request with: JSON, or (streamed)
# server-sent events.
API_MEDIA_TYPES = ("application/json", "text/event-stream")


def offline_model(command_prefix: str = "!") -> OfflineModel:
    """The offline model, calling the core's memory tools by their names (as a real model
    learns them from the request)."""
    names = MemoryTools(
        save=save_facts.name,
        read=read_facts.name,
        remember=remember.name,
        forget=forget_memory.name,
        search=search_history.name,
    )
    return OfflineModel(names, command_prefix)


def is_offline(model: Model) -> bool:
    """Whether `model` is the offline model (it spends no tokens: usage says so)."""
    return isinstance(model, OfflineModel)


async def refuse_non_api_answers(response: Any) -> None:
    """A successful answer that is neither JSON nor an event stream (a web page, a proxy's
    login form) is not the OpenAI API. Refused here, before either way of reading it: read as
    JSON it fails deep in the SDK, read as a stream it has no events and looks like an empty
    answer, which would be stored. Either way the turn now fails the same way."""
    if not 200 <= response.status_code < 300:
        return
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media or media in API_MEDIA_TYPES or media.endswith("+json"):
        return
    raise openai.APIResponseValidationError(
        response,
        None,
        message=f"the model server answered with {media}, not the OpenAI API",
    )


def make_client(settings: Settings) -> AsyncOpenAI:
    """The HTTP client for the configured model server (retries are the runner's job)."""
    return AsyncOpenAI(
        # OpenAI-compatible servers (Ollama, vLLM, LM Studio) often need no key; the client
        # insists on one, so a placeholder stands in.
        api_key=(
            settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        ),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_s,
        max_retries=0,
        http_client=DefaultAsyncHttpxClient(event_hooks={"response": [refuse_non_api_answers]}),
    )


def select_model(settings: Settings, client: AsyncOpenAI | None = None) -> Model:
    """The model the settings ask for: offline unless a key or base URL is configured."""
    if settings.use_offline_model:
        return offline_model(settings.command_prefix)
    client = client or make_client(settings)
    name = settings.bot_model or DEFAULT_OPENAI_MODEL
    if settings.model_api == "chat_completions":
        return OpenAIChatCompletionsModel(model=name, openai_client=client)
    return OpenAIResponsesModel(model=name, openai_client=client)


@contextlib.asynccontextmanager
async def opened_model(settings: Settings) -> AsyncIterator[Model]:
    """The model the settings ask for; its HTTP client (if any) is closed on exit."""
    if settings.use_offline_model:
        yield offline_model(settings.command_prefix)
        return
    async with make_client(settings) as client:
        yield select_model(settings, client)


def offline_notice(settings: Settings) -> str | None:
    """Why a model that was asked for is not used, when the offline model answers instead:
    BOT_MODEL names a model but nothing says where it is served."""
    wanted = settings.bot_model.strip()
    if not settings.use_offline_model or not wanted or wanted.lower() == "offline":
        return None
    return (
        f"BOT_MODEL={wanted} is set, but neither OPENAI_API_KEY nor OPENAI_BASE_URL is: "
        "the offline model answers instead"
    )


def describe_model(settings: Settings) -> str:
    """A log-safe description of the model in use (never the key)."""
    if settings.use_offline_model:
        return "offline model (no network)"
    name = settings.bot_model or DEFAULT_OPENAI_MODEL
    api = "Chat Completions" if settings.model_api == "chat_completions" else "Responses API"
    endpoint = settings.openai_base_url or "OpenAI"
    return f"{name} via {api} at {endpoint}"
