"""How a chat command is typed: its parsed form, and each front end's way of writing one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandSyntax:
    """How people type a chat command on one front end: `!forget 3` (a prefix), or, where
    every command is a subcommand of one slash command, `/memory forget 3` (`group`; the
    `memory` command itself is then the group alone: `/memory`, `/memory off`)."""

    prefix: str = "!"
    group: str | None = None

    def __call__(self, name: str, argument: str = "") -> str:
        """The command `name` with `argument`, as people type it here."""
        if self.group is None:
            typed = f"{self.prefix}{name}"
        else:
            typed = self.group if name == "memory" else f"{self.group} {name}"
        return f"{typed} {argument}".rstrip()


@dataclass(frozen=True)
class Command:
    """A chat command as typed: its name (lower case) and the rest of the line."""

    name: str
    argument: str = ""


def parse_command(line: str, prefix: str) -> Command | None:
    """The command in a line typed as text (`!forget city`), or None when it is not one."""
    stripped = line.strip()
    if not stripped.startswith(prefix):
        return None
    # `! help` is `!help`, and the prefix alone asks what there is: `help`.
    name, _, argument = stripped[len(prefix) :].strip().partition(" ")
    return Command(name.lower() or "help", argument)
