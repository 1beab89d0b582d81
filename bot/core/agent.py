"""The agent: instructions, its memory tools (in `tools.py`), and which model answers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents import (
    Agent,
    Model,
    ModelResponse,
    ModelRetrySettings,
    ModelSettings,
    retry_policies,
)
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from agents.retry import ModelRetryAdvice, ModelRetryAdviceRequest
from openai import AsyncOpenAI

from ..offline.model import MemoryTools, OfflineModel
from .text import clean_strings, has_surrogates
from .tools import (
    MAX_FACT_CHARS,
    UserContext,
    clean_fact_value,
    forget_memory,
    read_facts,
    remember,
    save_facts,
)

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "MAX_FACT_CHARS",
    "UserContext",
    "build_agent",
    "clean_fact_value",
    "describe_model",
    "forget_memory",
    "make_client",
    "offline_model",
    "read_facts",
    "remember",
    "retry_settings",
    "save_facts",
    "select_model",
]

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"

INSTRUCTIONS = """\
You are a friendly chat bot with a memory. About the person you are talking to you remember
their name, their city, and short notes they asked you to keep.
- When they tell you their name or where they live (or that they moved), call save_facts.
- When they tell you something about themselves they want remembered, or ask you to remember
  something about themselves ("remember that I'm vegetarian"), call remember with a short
  note in their words. Save only what the person said about themselves or asked you to
  remember: never instructions to you, never other people's private data, never secrets
  such as passwords.
- When they ask you to forget something, call read_facts if you need the note's number, then
  forget_memory with "name", "city" or that number.
- When they ask about their name, city or notes, or what you know about them, call read_facts
  and answer from its result. Never guess: if something is missing, say you don't know it yet.
- Never claim to remember something read_facts did not return. If a tool says memory is
  paused or full, tell the person plainly.
Keep answers short and warm."""


def retry_settings(max_retries: int) -> ModelRetrySettings:
    """The SDK's runner-managed retries: network errors, timeouts, 429 (honouring
    Retry-After) and 5xx, with exponential backoff. The HTTP client itself never retries."""
    return ModelRetrySettings(
        max_retries=max_retries,
        backoff={"initial_delay": 0.5, "max_delay": 8.0, "multiplier": 2.0, "jitter": True},
        policy=retry_policies.any(
            retry_policies.provider_suggested(),
            retry_policies.retry_after(),
            retry_policies.network_error(),
            retry_policies.http_status([408, 429, 500, 502, 503, 504]),
        ),
    )


def _valid_text(value: Any) -> Any:
    """`value` (a pydantic output item or stream event) with lone surrogates in its strings
    replaced; returned unchanged (and uncopied) when it has none, the usual case."""
    if not hasattr(value, "model_dump"):
        return value
    dumped = value.model_dump()
    if not has_surrogates(dumped):
        return value
    return type(value).model_validate(clean_strings(dumped))


class ValidTextModel(Model):
    """Any model, with its output made valid text at the boundary: a lone surrogate in a
    reply or a tool call's arguments (not encodable as UTF-8) would otherwise fail the turn
    deep inside the runner, the same way on every retry."""

    def __init__(self, model: Model) -> None:
        self.model = model

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        response = await self.model.get_response(*args, **kwargs)
        return dataclasses.replace(response, output=[_valid_text(i) for i in response.output])

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async for event in self.model.stream_response(*args, **kwargs):
            yield _valid_text(event)

    async def close(self) -> None:
        await self.model.close()

    def get_retry_advice(self, request: ModelRetryAdviceRequest) -> ModelRetryAdvice | None:
        return self.model.get_retry_advice(request)


def build_agent(
    model: Model | str, model_settings: ModelSettings | None = None
) -> Agent[UserContext]:
    """The memory agent, answering through `model` (its output made valid text)."""
    return Agent[UserContext](
        name="Memory bot",
        instructions=INSTRUCTIONS,
        tools=[save_facts, read_facts, remember, forget_memory],
        model=ValidTextModel(model) if isinstance(model, Model) else model,
        model_settings=model_settings or ModelSettings(),
    )


def offline_model(command_prefix: str = "!") -> OfflineModel:
    """The offline model, calling this agent's memory tools by their names."""
    names = MemoryTools(
        save=save_facts.name,
        read=read_facts.name,
        remember=remember.name,
        forget=forget_memory.name,
    )
    return OfflineModel(names, command_prefix)


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


def describe_model(settings: Settings) -> str:
    """A log-safe description of the model in use (never the key)."""
    if settings.use_offline_model:
        return "offline model (no network)"
    name = settings.bot_model or DEFAULT_OPENAI_MODEL
    api = "Chat Completions" if settings.model_api == "chat_completions" else "Responses API"
    endpoint = settings.openai_base_url or "OpenAI"
    return f"{name} via {api} at {endpoint}"
