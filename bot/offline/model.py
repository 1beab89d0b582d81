"""A deterministic model that needs no network.

It reads the newest user message, and answers statements of name/city and questions about them
by calling the same memory tools a real model would; the runner executes those calls and the
model then phrases the answer from the tool outputs. Anything else gets a plain explanation of
what the offline model can do. It never states a fact a tool did not return.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing, TResponseInputItem, Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
)

from ..core.domain import message_text
from .memory_requests import (
    ForgetEverything,
    ForgetItem,
    ForgetNote,
    RememberNote,
    match_note,
    parse_memory_request,
    parse_search_request,
)
from .parser import ParsedMessage, parse_message

MODEL_NAME = "offline"

HELP_TEXT = (
    "I'm the offline model (no AI service is configured), so I only understand your name, "
    'your city and notes. Try "My name is Ada and I live in Lisbon", "remember that I\'m '
    'vegetarian", then ask "What\'s my city?", "What do you know about me?" or "What did I '
    'say about Lisbon?". {prefix}memory shows what I remember, {prefix}forget erases it.'
)


def help_text(command_prefix: str = "!") -> str:
    """What the offline model says to anything it does not understand."""
    return HELP_TEXT.format(prefix=command_prefix)


@dataclass(frozen=True)
class MemoryTools:
    """The names of the memory tools the offline model calls. The core owns the tools and
    passes their names in, exactly as a real model learns them from the request."""

    save: str
    read: str
    remember: str = "remember"
    forget: str = "forget_memory"
    search: str = "search_history"


class OfflineModel(Model):
    """The offline stand-in for an LLM; see the module docstring."""

    def __init__(self, tools: MemoryTools, command_prefix: str = "!") -> None:
        self.tools = tools
        self.command_prefix = command_prefix

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        return ModelResponse(output=self.respond(input), usage=Usage(requests=1), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[Any]:
        output = self.respond(input)
        sequence = 0
        for index, item in enumerate(output):
            if isinstance(item, ResponseOutputMessage):
                for part in item.content:
                    if isinstance(part, ResponseOutputText):
                        yield ResponseTextDeltaEvent(
                            type="response.output_text.delta",
                            item_id=item.id,
                            output_index=index,
                            content_index=0,
                            delta=part.text,
                            logprobs=[],
                            sequence_number=sequence,
                        )
                        sequence += 1
        response = Response(
            id=f"offline-{uuid.uuid4().hex}",
            created_at=0,
            model=MODEL_NAME,
            object="response",
            output=output,
            tool_choice="auto",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status="completed",
        )
        yield ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=sequence
        )

    # --- the decision -------------------------------------------------------------------

    def respond(self, input: str | list[TResponseInputItem]) -> list[Any]:
        """The output items for this model call: one tool call, or the final message."""
        items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else input
        start = _last_user_message(items)
        if start is None:
            return [_message(help_text(self.command_prefix))]
        text = message_text(items[start])
        parsed = parse_message(text)
        request = parse_memory_request(text)
        outputs = _tool_outputs(items[start + 1 :])
        if isinstance(request, ForgetItem | ForgetNote | ForgetEverything):
            # "forget that I live in Lisbon" states a city only to name what to forget.
            return [self._forget(request, outputs)]
        save, read = self.tools.save, self.tools.read

        statement = {k: v for k, v in (("name", parsed.name), ("city", parsed.city)) if v}
        if statement and save not in outputs:
            return [_call(save, statement)]
        recall = parse_search_request(text)
        if recall is not None and not statement and not (parsed.asks_name or parsed.asks_city):
            if self.tools.search not in outputs:
                return [_call(self.tools.search, {"query": recall.query, "limit": 5})]
            return [_message(_recalled(outputs[self.tools.search], recall.topic))]
        if isinstance(request, RememberNote) and not statement:
            if self.tools.remember not in outputs:
                return [_call(self.tools.remember, {"note": request.note})]
            return [_message(_remembered(outputs[self.tools.remember], self.command_prefix))]
        if (parsed.asks_name or parsed.asks_city) and read not in outputs:
            return [_call(read, {})]
        composed = _compose(parsed, outputs.get(save), outputs.get(read))
        return [_message(composed or help_text(self.command_prefix))]

    def _forget(
        self, request: ForgetItem | ForgetNote | ForgetEverything, outputs: dict[str, Any]
    ) -> Any:
        prefix, forget = self.command_prefix, self.tools.forget
        if isinstance(request, ForgetEverything):
            return _message(f"To erase everything I remember about you, type {prefix}forget.")
        if forget in outputs:
            return _message(_forgotten(outputs[forget], prefix))
        if isinstance(request, ForgetItem):
            return _call(forget, {"item": request.item})
        if self.tools.read not in outputs:
            return _call(self.tools.read, {})
        number = match_note(outputs[self.tools.read].get("notes") or [], request.text)
        if number is None:
            return _message(f"I don't have a note like that. {prefix}memory lists what I remember.")
        return _call(forget, {"item": str(number)})


def _remembered(output: dict[str, Any], prefix: str) -> str:
    if kept := output.get("remembered"):
        return (
            f"Got it, I'll remember that (note {kept['number']}). "
            f"{prefix}forget {kept['number']} erases it."
        )
    if kept := output.get("already_remembered"):
        return f"I already remember that (note {kept['number']})."
    return _tool_error(output, prefix)


def _recalled(output: dict[str, Any], topic: str) -> str:
    """The answer from a search: the best match of what the person said, quoted with when
    it was said (the question asks what they said, not what the bot did). An earlier question
    of the same kind is no answer: "what did I say about X?" never quotes itself."""
    matches = [m for m in output.get("matches") or [] if isinstance(m, dict)]
    theirs = [
        m
        for m in matches
        if m.get("who") == "user"
        and parse_search_request(str(m.get("text", ""))) is None
        and _mentions(str(m.get("text", "")), topic)
    ]
    if not theirs:
        return f"I can't find anything you said about {topic}."
    best = theirs[0]
    try:
        when = date.fromisoformat(str(best.get("date"))).strftime("%-d %B %Y")
    except ValueError:
        when = "an earlier day"
    return f"On {when} you said: \u201c{best.get('text', '')}\u201d"


# Words too common to show that a message is about the topic asked of.
_COMMON = frozenset(
    "a an and any about did do ever for i in is it me mine my of on our that the this to "
    "was were what when with you your".split()
)


def _words(text: str) -> set[str]:
    found = re.findall(r"[^\W\d_]+", text.casefold())  # letters: "sister's" is "sister", "s"
    return {word for word in found if len(word) > 1} - _COMMON


def _mentions(text: str, topic: str) -> bool:
    """Whether the message names a word of the topic (or one of its forms, "wedding" and
    "weddings"): a match ranked only for being next to one is not quoted as the answer."""
    said = _words(text)
    return any(
        word in said or any(len(word) >= 5 and other.startswith(word[:5]) for other in said)
        for word in _words(topic)
    )


def _forgotten(output: dict[str, Any], prefix: str) -> str:
    gone = output.get("forgotten")
    if not gone:
        return f"I don't have that item. {prefix}memory lists what I remember."
    what = f"your {gone['kind']}" if gone["kind"] != "note" else f"note {gone['number']}"
    return f"Done, I've forgotten {what}, and removed it from our stored conversation."


def _tool_error(output: dict[str, Any], prefix: str) -> str:
    error = str(output.get("error") or "")
    if "paused" in error:
        return f"Memory is paused, so I didn't save that. {prefix}memory on resumes it."
    if "full" in error:
        return f"My memory of you is full. Forget a note first: {prefix}forget <number>."
    if "characters" in error:
        return "That's too long for a note (200 characters at most). Could you shorten it?"
    return "I couldn't save that."


def _last_user_message(items: list[Any]) -> int | None:
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, dict) and item.get("role") == "user":
            return index
    return None


def _tool_outputs(turn_items: list[Any]) -> dict[str, dict[str, Any]]:
    """Tool name → parsed output, for the calls already answered in this turn."""
    names: dict[str, str] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for item in turn_items:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            names[item["call_id"]] = item["name"]
        elif item.get("type") == "function_call_output" and item.get("call_id") in names:
            raw = item.get("output")
            try:
                parsed = json.loads(raw) if isinstance(raw, str) else {}
            except json.JSONDecodeError:
                parsed = {}
            outputs[names[item["call_id"]]] = parsed if isinstance(parsed, dict) else {}
    return outputs


def _compose(
    parsed: ParsedMessage, save_output: dict[str, Any] | None, facts: dict[str, Any] | None
) -> str:
    """The answer from what the tools returned: `save_output` of the save call, `facts` of
    the read call (None when that tool was not called this turn)."""
    sentences: list[str] = []
    if save_output is not None and "paused" in str(save_output.get("error") or ""):
        sentences.append("Memory is paused, so I didn't save that.")
    saved = (save_output or {}).get("saved") or {}
    if saved.get("name") and saved.get("city"):
        sentences.append(
            f"Nice to meet you, {saved['name']}! I'll remember that you live in {saved['city']}."
        )
    elif saved.get("name"):
        sentences.append(f"Nice to meet you, {saved['name']}! I'll remember your name.")
    elif saved.get("city"):
        sentences.append(f"Got it, I'll remember that you live in {saved['city']}.")

    if facts is not None:
        notes = [n for n in facts.get("notes") or [] if isinstance(n, dict)]
        everything = parsed.asks_name and parsed.asks_city
        if everything and not (facts.get("name") or facts.get("city") or notes):
            sentences.append(
                "I don't know anything about you yet. Tell me your name or where you live "
                "and I'll remember it."
            )
        else:
            for fact, asked in (("name", parsed.asks_name), ("city", parsed.asks_city)):
                if not asked:
                    continue
                if facts.get(fact):
                    sentences.append(f"Your {fact} is {facts[fact]}.")
                else:
                    sentences.append(f"I don't know your {fact} yet.")
            if everything and notes:
                listed = "; ".join(f"{n.get('note')} (note {n.get('number')})" for n in notes)
                sentences.append(f"You asked me to remember: {listed}.")
    return " ".join(sentences)


def _call(name: str, arguments: dict[str, str]) -> ResponseFunctionToolCall:
    # Call ids must be unique across the stored history: the runtime may skip re-running a
    # call id it has already seen completed.
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    return ResponseFunctionToolCall(
        id=call_id,
        call_id=call_id,
        type="function_call",
        name=name,
        arguments=json.dumps(arguments, ensure_ascii=False),
        status="completed",
    )


def _message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_{uuid.uuid4().hex[:24]}",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])],
    )
