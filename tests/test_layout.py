"""The shape DESIGN.md draws, checked on the source: dependencies point inward (core never
imports memory/ or a front end; memory/ and offline/ never import a front end; offline/ takes
at most the core's domain types; front ends never import memory/; ops/ sees only the core),
only the wiring knows every part, and no module or class grows past the size a reader can
hold."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250
# Packages (by dotted prefix) each layer must never import, at run time or for type checking.
FORBIDDEN = {
    "bot.core": (
        "bot.memory",
        "bot.frontends",
        "bot.offline",
        "bot.ops",
        "bot.app",
        "bot.models",
    ),
    "bot.memory": ("bot.frontends", "bot.offline", "bot.ops", "bot.app", "bot.models"),
    "bot.offline": ("bot.memory", "bot.frontends", "bot.ops", "bot.app", "bot.models"),
    "bot.frontends": ("bot.memory", "bot.offline", "bot.ops", "bot.app", "bot.models"),
    # Operating it (metrics, /healthz) watches the core through its ports only.
    "bot.ops": ("bot.memory", "bot.frontends", "bot.offline", "bot.app", "bot.models"),
    "bot.settings": (
        "bot.core",
        "bot.memory",
        "bot.frontends",
        "bot.offline",
        "bot.ops",
        "bot.app",
    ),
}
# What the offline model may take from the core: its domain types, nothing that runs turns.
OFFLINE_MAY_USE = ("bot.core.domain",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, name: str | None = None) -> set[str]:
    """Every module `path` (the module `name`) imports, relative imports resolved, anywhere
    in the file: at the top, inside functions, under TYPE_CHECKING."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from . import positions` imports a module, not a name.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {i for i in found if i == "bot" or i.startswith("bot.")}


def sources() -> list[Path]:
    return sorted(BOT.rglob("*.py"))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_import_graph_points_inward() -> None:
    wrong = []
    for path in sources():
        name = module_name(path)
        for layer, banned in FORBIDDEN.items():
            if not _within(name, layer):
                continue
            for target in imports(path):
                if any(_within(target, b) for b in banned):
                    wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_offline_model_takes_only_the_core_domain() -> None:
    wrong = []
    for path in sources():
        name = module_name(path)
        if not _within(name, "bot.offline"):
            continue
        for target in imports(path):
            if _within(target, "bot.core") and not any(
                _within(target, allowed) for allowed in OFFLINE_MAY_USE
            ):
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_checker_sees_forbidden_imports_of_every_form(tmp_path: Path) -> None:
    # The graph test must be able to fail: a core module reaching memory/ in any form.
    fake = tmp_path / "fake.py"
    fake.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..memory import schema\n"
        "if TYPE_CHECKING:\n"
        "    from bot.frontends.console import run_console\n"
        "def later():\n"
        "    import bot.app\n"
    )
    found = imports(fake, "bot.core.fake")
    assert {"bot.memory", "bot.memory.schema", "bot.frontends.console", "bot.app"} <= found
    banned = FORBIDDEN["bot.core"]
    assert all(any(_within(t, b) for b in banned) for t in found - {"bot.memory.schema"})


def test_no_module_or_class_is_too_long() -> None:
    too_long = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + 1
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{module_name(path)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_long.append(f"{module_name(path)}.{node.name}: {length} lines")
    assert too_long == []
