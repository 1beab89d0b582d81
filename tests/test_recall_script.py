"""`bench/recall.py` on a small LoCoMo-shaped file written here (the real data is never copied
into the project): its JSON line, the protocol (categories 1–4, evidence within the top k),
and the baseline measured beside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def conversation(sample_id: str, person: str, bot: str) -> dict:
    turns = [
        (person, "I adopted a grey cat called Pepper last weekend."),
        (bot, "That's lovely! Cats are great company."),
        (person, "My brother is training for the Berlin marathon in September."),
        (bot, "Wow, that takes dedication."),
        (person, "I started learning the cello at a community school."),
    ]
    later = [
        (bot, "How is the cello going?"),
        (person, "Slowly! Pepper hides whenever I practise."),
        (bot, "Ha, a critic already."),
    ]

    def session(prefix: int, said: list[tuple[str, str]]) -> list[dict]:
        return [
            {"speaker": who, "dia_id": f"D{prefix}:{n}", "text": text}
            for n, (who, text) in enumerate(said, start=1)
        ]

    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": person,
            "speaker_b": bot,
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": session(1, turns),
            "session_2_date_time": "7:30 pm on 2 June, 2023",
            "session_2": session(2, later),
        },
        "qa": [
            {
                "question": f"What is the name of {person}'s cat?",
                "answer": "Pepper",
                "evidence": ["D1:1"],
                "category": 4,
            },
            {
                "question": f"When is {person}'s brother running a marathon?",
                "answer": "September",
                "evidence": ["D1:3"],
                "category": 2,
            },
            {
                "question": f"What is {person} learning at the community school?",
                "answer": "cello",
                "evidence": ["D1:5", "D2:2"],
                "category": 1,
            },
            {
                "question": "What did the dog eat?",
                "answer": "unanswerable",
                "evidence": [],
                "category": 5,
            },
        ],
    }


def test_the_recall_script_reports_recall_beside_the_baseline(tmp_path: Path) -> None:
    data = tmp_path / "locomo-shaped.json"
    data.write_text(
        json.dumps([conversation("t-1", "Mira", "Jon"), conversation("t-2", "Ola", "Ben")])
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "recall.py"), "--locomo", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["questions"] == 6  # categories 1-4 of two conversations; 5 is left out
    assert found["conversations"] == 2
    assert found["r_at_10"] == 1.0  # every evidence turn is found among ten
    assert found["r_at_1"] >= 0.5
    assert set(found["baseline"]) == {"r_at_1", "r_at_5", "r_at_10"}
    assert found["search_ms_p99"] >= found["search_ms_p50"] > 0


def test_the_recall_script_refuses_a_missing_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "recall.py"), "--locomo", str(tmp_path / "no.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
