from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from chat_support import make_service, set_facts

from bot.core.chat import ChatService
from bot.core.domain import UserKey, is_user_message, message_text
from bot.core.store import MemoryStore

CONSOLE_1999 = UserKey.parse("console:1999")
ADA = UserKey.parse("console:ada")
U = UserKey.parse("u")
U_1 = UserKey.parse("u:1")
U_2 = UserKey.parse("u:2")


def echo_step() -> ModelStep:
    async def respond(call: ModelCall) -> list:
        # Yield to the loop so other users' turns interleave with this one.
        await asyncio.sleep(random.random() / 100)
        last_user = [i for i in call.input if is_user_message(i)][-1]
        return [assistant_message(f"echo {message_text(last_user)}")]

    return ModelStep.respond(respond)


async def test_concurrent_turns_of_one_user_stay_in_send_order(store: MemoryStore) -> None:
    model = ScriptedModel([echo_step() for _ in range(10)])
    service = make_service(store, model)
    results = await asyncio.gather(*(service.turn(ADA, f"m{n}") for n in range(10)))
    assert all(r.ok for r in results)
    items = await store.all_items(ADA)
    roles = [item["role"] for item in items]
    assert roles == ["user", "assistant"] * 10
    users = [message_text(i) for i in items if i["role"] == "user"]
    answers = [message_text(i) for i in items if i["role"] == "assistant"]
    assert users == [f"m{n}" for n in range(10)]
    assert answers == [f"echo m{n}" for n in range(10)]
    model.assert_complete()


async def test_different_users_run_in_parallel(store: MemoryStore) -> None:
    started: list[str] = []
    gate = asyncio.Event()

    async def wait_for_both(call: ModelCall) -> list:
        started.append(message_text([i for i in call.input if is_user_message(i)][-1]))
        if len(started) == 2:
            gate.set()
        # Deadlocks (and times out) if the two users' turns were serialised.
        await asyncio.wait_for(gate.wait(), timeout=5)
        return [assistant_message("ok")]

    model = ScriptedModel([ModelStep.respond(wait_for_both), ModelStep.respond(wait_for_both)])
    service = make_service(store, model)
    results = await asyncio.gather(service.turn(U_1, "a"), service.turn(U_2, "b"))
    assert [r.reply for r in results] == ["ok", "ok"]


async def test_turn_result_lists_exactly_what_was_stored(store: MemoryStore) -> None:
    model = ScriptedModel(
        [
            [function_call("save_facts", {"name": "Ada", "city": None}, call_id="c1")],
            [assistant_message("Hi Ada")],
        ]
    )
    result = await make_service(store, model).turn(ADA, "I'm Ada")
    stored = await store.all_items(ADA)
    assert result.added == stored
    assert [i.get("type", "message") for i in stored] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert (await store.memory(ADA)).facts() == {"name": "Ada"}


async def test_failing_model_leaves_history_and_facts_unchanged(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.commit_turn(ADA, [{"role": "user", "content": "hi"}], set_facts(name="Ada"))
    before = await store.all_items(ADA)
    model = ScriptedModel(
        [
            [function_call("save_facts", {"name": "Eve", "city": "Nowhere"}, call_id="c1")],
            RuntimeError("upstream exploded: secret detail"),
        ]
    )
    result = await make_service(store, model).turn(ADA, "I'm Eve from Nowhere")
    assert not result.ok
    assert result.failure == "internal"
    assert "Nothing from this message was stored" in result.reply
    assert "exploded" not in result.reply and "Traceback" not in result.reply
    assert result.added == []
    assert await store.all_items(ADA) == before
    assert (await store.memory(ADA)).facts() == {"name": "Ada"}
    assert "exploded" in caplog.text  # the traceback goes to the log instead


def assert_no_orphans(items: list) -> None:
    calls = {i["call_id"] for i in items if i.get("type") == "function_call"}
    outputs = {i["call_id"] for i in items if i.get("type") == "function_call_output"}
    assert calls == outputs


async def test_history_window_never_orphans_a_tool_call(store: MemoryStore) -> None:
    model = ScriptedModel()
    for n in range(12):
        model.extend(
            [
                [function_call("read_facts", {}, call_id=f"c{n}")],
                [assistant_message(f"answer {n}")],
            ]
        )
    model.enqueue([assistant_message("last")])
    service = make_service(store, model, history_window=3)
    for n in range(13):
        await service.turn(U, f"question {n}")
    model.assert_complete()
    for call in model.calls:
        assert_no_orphans([i for i in call.input if isinstance(i, dict)])
    last_input = model.last_call.input
    assert is_user_message(last_input[0])  # the window starts at a turn boundary
    user_texts = [message_text(i) for i in last_input if is_user_message(i)]
    assert user_texts == ["question 9", "question 10", "question 11", "question 12"]


async def test_commands(service: ChatService) -> None:
    assert "!history" in (await service.handle(U, "!help")).text
    assert "Usage" in (await service.handle(U, "!history two")).text
    assert "Usage" in (await service.handle(U, "!history 0")).text
    assert "Unknown command" in (await service.handle(U, "!dance")).text
    assert (await service.handle(U, "!history 5")).text.endswith("Conversation history: empty.")
    await service.handle(U, "My name is Ada")
    assert (await service.handle(U, "!history 5")).text.endswith(
        "There is no page 5: history has 1 page(s)."
    )


FD_SCALE = Path(__file__).resolve().parents[1] / "support" / "fd_scale.py"


@pytest.mark.slow
def test_two_thousand_users_under_a_low_fd_limit(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(FD_SCALE), "core", str(tmp_path / "m.db"), "2000", "1024"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["errors"] == 0
    print(figures)
    assert figures["peak_fds"] < 64, figures
    assert figures["final_fds"] < 64, figures
    assert figures["expected"] in figures["recall"]
