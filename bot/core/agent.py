"""The agent: instructions, the memory tools, and which model answers.

The caller's identity reaches the tools only through `UserContext` (the run context), never as
a tool argument, so no model output can read or write another person's memory.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents import (
    Agent,
    Model,
    ModelResponse,
    ModelRetrySettings,
    ModelSettings,
    RunContextWrapper,
    function_tool,
    retry_policies,
)
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from agents.retry import ModelRetryAdvice, ModelRetryAdviceRequest
from openai import AsyncOpenAI

from ..memory import FACT_NAMES
from ..offline.model import MemoryTools, OfflineModel
from .text import clean_strings, has_surrogates

if TYPE_CHECKING:
    from ..memory import MemoryStore
    from ..settings import Settings

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
MAX_FACT_CHARS = 100

INSTRUCTIONS = """\
You are a friendly chat bot with a memory. You remember two facts about the person you are
talking to: their name and their city.
- When they tell you their name or where they live (or that they moved), call save_facts.
- When they ask about their name or city, or what you know about them, call read_facts and
  answer from its result. Never guess: if a fact is missing, say you don't know it yet.
- Never claim to remember something read_facts did not return.
Keep answers short and warm."""


@dataclass
class UserContext:
    """Per-run facts for the tools: whose memory this turn touches, and where it lives.

    Fact writes are held in `pending_facts` and stored with the turn's history in one
    transaction when the turn completes, so a failed turn changes nothing.
    """

    user_key: str
    store: MemoryStore
    pending_facts: dict[str, str] = field(default_factory=dict)

    async def current_facts(self) -> dict[str, str]:
        facts = await self.store.facts(self.user_key)
        facts.update(self.pending_facts)
        return facts


# Control characters (Cc), invisible format characters (Cf: zero-width space/joiners, bidi
# overrides) and lone surrogates (Cs: not text at all, and unstorable as UTF-8) are stripped;
# everything else, quotes and emoji included, is kept verbatim.
_INVISIBLE = {"Cc", "Cf", "Cs"}
_SPACES = re.compile(r"\s+")


def clean_fact_value(value: str) -> str:
    """A fact value as stored: visible characters only, single-spaced, capped in length."""
    visible = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in value
        if ch in "\t\n\r" or unicodedata.category(ch) not in _INVISIBLE
    )
    return _SPACES.sub(" ", visible).strip()[:MAX_FACT_CHARS].strip()


@function_tool
async def save_facts(
    ctx: RunContextWrapper[UserContext],
    name: str | None = None,
    city: str | None = None,
) -> str:
    """Remember the user's name and/or city. Pass only the facts the user just stated.

    Args:
        name: The name the user wants to be called, exactly as they gave it.
        city: The city the user lives in, exactly as they gave it.
    """
    saved: dict[str, str] = {}
    for fact, raw in (("name", name), ("city", city)):
        if raw is None:
            continue
        value = clean_fact_value(raw)
        if value:
            ctx.context.pending_facts[fact] = value
            saved[fact] = value
    if not saved:
        return json.dumps({"saved": {}, "error": "no name or city given"})
    return json.dumps({"saved": saved}, ensure_ascii=False)


@function_tool
async def read_facts(ctx: RunContextWrapper[UserContext]) -> str:
    """Read what is remembered about the user: their name and city (null when unknown)."""
    facts = await ctx.context.current_facts()
    return json.dumps({fact: facts.get(fact) for fact in FACT_NAMES}, ensure_ascii=False)


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
        tools=[save_facts, read_facts],
        model=ValidTextModel(model) if isinstance(model, Model) else model,
        model_settings=model_settings or ModelSettings(),
    )


def offline_model(command_prefix: str = "!") -> OfflineModel:
    """The offline model, calling this agent's memory tools by their names."""
    return OfflineModel(MemoryTools(save=save_facts.name, read=read_facts.name), command_prefix)


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
