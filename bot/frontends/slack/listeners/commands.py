"""`/memory`: what the bot keeps about you, answered so only you see it.

Each subcommand maps onto the chat command of the same name (`/memory history 2` runs
`!history 2`), so commands the core adds work here unchanged; `export` arrives as a file in a
DM with the bot.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from ..render import plain_messages
from ..replies import EXPORT_FAILED, EXPORT_SENT, MEMORY_COMMAND, call
from ..users import user_key

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from ..replies import SlackChat

log = logging.getLogger(__name__)

COMMAND = MEMORY_COMMAND


def core_command(subcommand: str, prefix: str) -> str:
    """The chat command a `/memory` subcommand runs: `/memory` (or `list`) and
    `/memory on|off` are `!memory` and `!memory on|off`; any other is `!<subcommand>`
    (`/memory forget city` runs `!forget city`)."""
    words = subcommand.split()
    if not words or words[0].lower() == "list":
        return f"{prefix}memory"
    if words[0].lower() in ("on", "off"):
        return f"{prefix}memory {subcommand}"
    return prefix + subcommand


def slash_text(text: str, prefix: str) -> str:
    """The core's wording with `!history` written as `/memory history` (and `!memory` as
    `/memory`). Only unindented lines (help, usage, errors) are rewritten: indented ones
    quote stored text."""
    pattern = re.compile(rf"(?<![\w/]){re.escape(prefix)}(?:(memory)\b|(?=[a-z]))")

    def slash(match: re.Match[str]) -> str:
        return COMMAND if match.group(1) else f"{COMMAND} "

    return "\n".join(
        line if line.startswith(" ") else pattern.sub(slash, line) for line in text.split("\n")
    )


def register(app: AsyncApp, slack_chat: SlackChat) -> None:
    @app.command(COMMAND)
    async def memory(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """(list) · on|off · forget [item] · history [page] · export · help: your memory,
        shown only to you."""
        await ack()  # Slack wants this within 3 s; the work follows
        subcommand = " ".join(str(command.get("text", "")).split())
        user_id = command["user_id"]
        key = user_key(context.team_id, user_id)
        if subcommand.split()[:1] == ["export"]:
            sent = await slack_chat.send_export(client, user_key=key, user_id=user_id)
            text = EXPORT_SENT if sent else EXPORT_FAILED
        else:
            reply = await slack_chat.chat.handle(key, core_command(subcommand, slack_chat.prefix))
            text = slash_text(reply.text, slack_chat.prefix)
        for message in plain_messages(text):
            response = await call("response_url", respond(response_type="ephemeral", **message))
            if response is not None and response.status_code != 200:
                log.warning("Slack response_url failed: HTTP %s", response.status_code)
