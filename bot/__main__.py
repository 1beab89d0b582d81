"""Command line: `python -m bot [discord|slack|console|migrate] ...`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from .core.failures import quiet_sdk_model_errors
from .core.store import StoreError
from .frontends.console import OutputClosed
from .frontends.errors import StartError
from .settings import Settings, SettingsError

log = logging.getLogger("bot")

# The status a shell reports for a program ended by SIGPIPE (128 + 13), as `cat` in a pipe.
SIGPIPE_STATUS = 141


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="frontend")
    discord_cmd = sub.add_parser("discord", help="run the Discord bot (needs DISCORD_TOKEN)")
    discord_cmd.add_argument(
        "--sync-global",
        action="store_true",
        help="publish slash commands to every server (slow to appear; do it once)",
    )
    sub.add_parser("slack", help="run the Slack bot (needs SLACK_BOT_TOKEN)")
    console = sub.add_parser("console", help="chat in this terminal (stdin/stdout)")
    console.add_argument("--user", default=None, help="who you are (default: your login name)")
    console.add_argument("--db", type=Path, default=None, help="memory file (MEMORY_DB_PATH)")
    sub.add_parser(
        "migrate", help="create the memory tables and exit (safe from several processes)"
    )
    return parser.parse_args(argv)


class RedactingFormatter(logging.Formatter):
    """Replaces the configured secrets wherever they appear in a formatted log line,
    tracebacks included: a last line of defence for text no code path should have logged."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def setup_logging(settings: Settings) -> None:
    # Logs go to stderr so stdout carries only the conversation (it may be piped).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s",
            settings.secret_values(),
        )
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # The SDK and HTTP client are chatty at INFO; their warnings still show.
    for noisy in ("openai", "httpx", "httpx2", "httpcore", "openai.agents", "slack_sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Failed turns are logged once each by the chat service, classified.
    quiet_sdk_model_errors()


def default_frontend(settings: Settings) -> str:
    """What `python -m bot` runs: every front end with a token, else the console."""
    if settings.discord_token and settings.slack_bot_token:
        return "both"
    if settings.slack_bot_token:
        return "slack"
    return "discord" if settings.discord_token else "console"


async def run(args: argparse.Namespace, settings: Settings) -> None:
    from . import app

    frontend = args.frontend
    if frontend == "migrate":
        await app.run_migrate(settings)
        return
    if frontend is None:
        frontend = default_frontend(settings)
        if frontend == "console":
            print(
                "Neither DISCORD_TOKEN nor SLACK_BOT_TOKEN is set: starting the console "
                "channel instead.",
                file=sys.stderr,
            )
    if frontend == "console":
        user = getattr(args, "user", None) or getpass.getuser() or "local"
        await app.run_console(settings, user)
        return
    await app.serve(settings, frontend, sync_global=getattr(args, "sync_global", False))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {}
    if getattr(args, "db", None) is not None:
        overrides["memory_db_path"] = args.db
    try:
        settings = Settings(**overrides)
        setup_logging(settings)
        asyncio.run(run(args, settings))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (StoreError, StartError) as exc:
        # One line naming what is wrong and how to fix it; the traceback is at debug level.
        log.debug("could not start", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OutputClosed:
        # The reader of our output went away (`… | head`): end quietly, as `cat` does. The
        # interpreter's last flush of stdout must not fail either, so it goes nowhere now.
        log.debug("stdout was closed by its reader; stopping")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return SIGPIPE_STATUS
    except KeyboardInterrupt:
        # Ctrl-C: end at once, with the shell's usual status for an interrupted program.
        if sys.stdout.isatty():
            print(file=sys.stdout)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
