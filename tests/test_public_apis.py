"""`bot/` uses only the public API of its dependencies: no module, function or attribute whose
name starts with `_` from openai-agents, SQLAlchemy, discord.py or Slack's SDKs.

Imports are checked exactly. For attributes, the private names those packages define are
collected from their source; an attribute access in `bot/` with such a name fails unless the
bot defines that name itself (its own `self._lock` is fine). The names the first release
borrowed are refused whatever the bot defines.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
PACKAGES = ("agents", "sqlalchemy", "discord", "slack_bolt", "slack_sdk")
ALWAYS_REFUSED = {
    "_write_connection",
    "_insert_items",
    "_serialize_item",
    "_deserialize_item",
    "_sessions",
    "_messages",
    "_metadata",
    "_await_mutation",
    "_locked_connection",
    "_get_connection",
    "_init_db_for_connection",
}
_DEFINED = re.compile(
    r"(?:\bdef|\bclass)\s+(_[A-Za-z0-9]\w*)|\b(?:self|cls)\.(_[A-Za-z0-9]\w*)\s*[:=]"
)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def dependency_private_names() -> frozenset[str]:
    names: set[str] = set()
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for source in Path(root).rglob("*.py"):
                text = source.read_text(encoding="utf-8", errors="replace")
                names.update(a or b for a, b in _DEFINED.findall(text))
    return frozenset(names)


def bot_sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(BOT.rglob("*.py"))]


def names_defined_by_the_bot(modules: list[tuple[Path, ast.Module]]) -> set[str]:
    defined: set[str] = set()
    for _, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined.add(node.target.id)
    return defined


def _dependency_module(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def test_the_scan_knows_the_names_it_must_refuse() -> None:
    # If the scan stopped finding the SDK's private names, the test below could not fail.
    found = dependency_private_names()
    assert {"_write_connection", "_insert_items", "_serialize_item"} <= found


def test_bot_uses_no_private_name_of_its_dependencies() -> None:
    modules = bot_sources()
    ours = names_defined_by_the_bot(modules)
    theirs = dependency_private_names()
    problems = []
    for path, tree in modules:
        where = path.relative_to(BOT.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and _dependency_module(node.module):
                if any(_private(part) for part in node.module.split(".")):
                    problems.append(f"{where}:{node.lineno} imports from {node.module}")
                problems += [
                    f"{where}:{node.lineno} imports {alias.name} from {node.module}"
                    for alias in node.names
                    if _private(alias.name)
                ]
            elif isinstance(node, ast.Import):
                problems += [
                    f"{where}:{node.lineno} imports {alias.name}"
                    for alias in node.names
                    if _dependency_module(alias.name)
                    and any(_private(part) for part in alias.name.split("."))
                ]
            elif (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and (node.attr in ALWAYS_REFUSED or (node.attr in theirs and node.attr not in ours))
            ):
                problems.append(f"{where}:{node.lineno} uses .{node.attr}")
    assert problems == []
