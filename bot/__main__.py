"""Command line: `python -m bot [discord|slack|console|migrate] ...`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from pathlib import Path

from .core.agent import describe_model
from .core.chat import ChatService
from .frontends.console import run_console
from .memory import StoreError, describe_memory
from .memory.opening import open_memory, opened_memory
from .settings import Settings, SettingsError

log = logging.getLogger("bot")


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


async def run_migrate(settings: Settings) -> int:
    """Create the schema and exit; safe to run from several processes at once."""
    store = open_memory(settings)
    try:
        await store.migrate()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.debug("migrate failed", exc_info=True)
        print(f"error: could not create the memory tables ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        await store.aclose()
    log.info("memory tables ready in %s", describe_memory(settings))
    return 0


async def run_console_frontend(settings: Settings, user: str) -> None:
    async with opened_memory(settings) as store:
        log.info(
            "console channel; memory in %s; model: %s",
            describe_memory(settings),
            describe_model(settings),
        )
        service = ChatService.from_settings(store, settings, rate_limited=False)
        try:
            await run_console(service, user, show_added=settings.show_turn_embed)
        finally:
            await service.aclose()


def default_frontend(settings: Settings) -> str:
    """What `python -m bot` runs: every front end with a token, else the console."""
    if settings.discord_token and settings.slack_bot_token:
        return "both"
    if settings.slack_bot_token:
        return "slack"
    return "discord" if settings.discord_token else "console"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {}
    if getattr(args, "db", None) is not None:
        overrides["memory_db_path"] = args.db
    try:
        settings = Settings(**overrides)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)

    frontend = args.frontend
    try:
        if frontend == "migrate":
            return asyncio.run(run_migrate(settings))
    except KeyboardInterrupt:
        return 130
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if frontend == "discord" and not settings.discord_token:
        print(
            "error: DISCORD_TOKEN is not set; put it in .env or the environment.", file=sys.stderr
        )
        return 2
    if frontend is None:
        frontend = default_frontend(settings)
        if frontend == "console":
            print(
                "Neither DISCORD_TOKEN nor SLACK_BOT_TOKEN is set: starting the console "
                "channel instead.",
                file=sys.stderr,
            )

    try:
        if frontend == "discord":
            from .frontends.discord.bot import run_discord

            asyncio.run(run_discord(settings, sync_global=getattr(args, "sync_global", False)))
        elif frontend == "slack":
            from .frontends.slack.app import run_slack

            asyncio.run(run_slack(settings))
        elif frontend == "both":
            from .frontends.both import run_discord_and_slack

            asyncio.run(run_discord_and_slack(settings))
        else:
            user = getattr(args, "user", None) or getpass.getuser() or "local"
            asyncio.run(run_console_frontend(settings, user))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        # One line naming what is wrong and how to fix it; the traceback is at debug level.
        log.debug("memory failed at start", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C: end at once, with the shell's usual status for an interrupted program.
        if sys.stdout.isatty():
            print(file=sys.stdout)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
