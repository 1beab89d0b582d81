"""Recall on LoCoMo: how well the bot's search finds what a person said, on a benchmark
nobody here wrote (Maharana et al., ACL 2024; CC BY-NC 4.0; the data is read where it lies,
never copied into the project).

    python bench/recall.py --locomo PATH [--json-only]

Each conversation becomes one person's history through the store's normal commit path: speaker
A's turns are the person's messages, speaker B's the bot's replies, each dated by its
session's `session_N_date_time` (turns 30 s apart); a shared photo is stored as its text
followed by "[image: <caption>]", as the dataset gives it. Every question of categories 1–4
is asked of that person's history through `SqlMemoryStore.search` (the function the
`search_history` tool and `!search` use), with the two speakers' names as who is who; a
question counts at k when any of its evidence turns is among the top k results. The baseline,
measured in the same run: FTS5 `bm25()` over the raw messages (default tokenizer), the
question's words OR-ed, nothing tuned. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.domain import UserKey  # noqa: E402
from bot.memory import SqlMemoryStore  # noqa: E402

KS = (1, 5, 10)
CATEGORIES = {1, 2, 3, 4}  # 5 (adversarial, unanswerable) is left out, as retrieval scoring does
WORD = re.compile(r"[A-Za-z0-9]+")


def conversations(path: Path) -> list[dict[str, Any]]:
    """Each sample as (who is who, dated turns, questions)."""
    found = []
    for sample in json.loads(path.read_text(encoding="utf-8")):
        talk = sample["conversation"]
        person, bot = talk["speaker_a"], talk["speaker_b"]
        turns, n = [], 1
        while f"session_{n}" in talk:
            start = datetime.strptime(
                talk[f"session_{n}_date_time"].strip(), "%I:%M %p on %d %B, %Y"
            ).replace(tzinfo=UTC)
            for i, turn in enumerate(talk[f"session_{n}"]):
                text = turn["text"]
                if turn.get("blip_caption"):
                    text = f"{text} [image: {turn['blip_caption']}]"
                turns.append(
                    {
                        "dia_id": turn["dia_id"],
                        "role": "user" if turn["speaker"] == person else "assistant",
                        "at": start + timedelta(seconds=30 * i),
                        "text": text,
                    }
                )
            n += 1
        questions = [q for q in sample["qa"] if q.get("category") in CATEGORIES]
        found.append(
            {
                "id": sample["sample_id"],
                "names": {"user": person, "assistant": bot},
                "turns": turns,
                "questions": questions,
            }
        )
    return found


def item(turn: dict[str, Any]) -> dict[str, Any]:
    if turn["role"] == "user":
        return {"role": "user", "content": turn["text"]}
    content = [{"type": "output_text", "text": turn["text"], "annotations": []}]
    return {"type": "message", "role": "assistant", "content": content}


class Tally:
    def __init__(self) -> None:
        self.hits = dict.fromkeys(KS, 0)
        self.questions = 0

    def add(self, evidence: set[str], got: list[str]) -> None:
        self.questions += 1
        for k in KS:
            self.hits[k] += bool(evidence & set(got[:k]))

    def recalls(self) -> dict[str, float]:
        return {f"r_at_{k}": round(self.hits[k] / max(1, self.questions), 3) for k in KS}


def baseline(turns: list[dict[str, Any]], questions: list[dict[str, Any]], tally: Tally) -> None:
    """Plain FTS5 bm25 over the raw messages, the question's words OR-ed."""
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
        conn.executemany(
            "INSERT INTO t(rowid, body) VALUES (?, ?)",
            [(n, turn["text"]) for n, turn in enumerate(turns)],
        )
        for question in questions:
            words = {w.lower() for w in WORD.findall(question["question"])}
            got: list[str] = []
            if words:
                rows = conn.execute(
                    "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?",
                    (" OR ".join(f'"{w}"' for w in sorted(words)), max(KS)),
                ).fetchall()
                got = [turns[n]["dia_id"] for (n,) in rows]
            tally.add(set(question["evidence"]), got)


async def measure(path: Path) -> dict[str, Any]:
    samples = conversations(path)
    ours, plain = Tally(), Tally()
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as work:
        async with SqlMemoryStore(Path(work) / "recall.db") as store:
            for sample in samples:
                user = UserKey("locomo", sample["id"])
                for turn in sample["turns"]:
                    await store.commit_turn(user, [item(turn)], at=turn["at"])
                by_moment = {turn["at"]: turn["dia_id"] for turn in sample["turns"]}
                for question in sample["questions"]:
                    began = time.perf_counter()
                    hits = await store.search(
                        user, question["question"], max(KS), names=sample["names"]
                    )
                    timings.append((time.perf_counter() - began) * 1000)
                    ours.add(set(question["evidence"]), [by_moment[h.said_at] for h in hits])
                baseline(sample["turns"], sample["questions"], plain)
    timings.sort()
    return {
        **ours.recalls(),
        "questions": ours.questions,
        "conversations": len(samples),
        "search_ms_p50": round(statistics.median(timings), 3),
        "search_ms_p99": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
        "baseline": plain.recalls(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locomo", type=Path, required=True, help="a LoCoMo JSON file")
    args = parser.parse_args()
    if not args.locomo.is_file():
        print(f"error: {args.locomo} is not a file", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(measure(args.locomo))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
