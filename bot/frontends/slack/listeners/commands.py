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
from ..replies import EXPORT_FAILED, EXPORT_SENT, call
from ..users import user_key

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from ..replies import SlackChat

log = logging.getLogger(__name__)

COMMAND = "/memory"


def slash_text(text: str, prefix: str) -> str:
    """The core's wording with `!history` written as `/memory history`. Only unindented lines
    (help, usage, errors) are rewritten: indented ones quote stored text."""
    pattern = re.compile(rf"(?<![\w/]){re.escape(prefix)}(?=[a-z])")
    return "\n".join(
        line if line.startswith(" ") else pattern.sub(f"{COMMAND} ", line)
        for line in text.split("\n")
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
        """history [page] · export · forget · help: your memory, shown only to you."""
        await ack()  # Slack wants this within 3 s; the work follows
        subcommand = " ".join(str(command.get("text", "")).split()) or "help"
        user_id = command["user_id"]
        key = user_key(context.team_id, user_id)
        if subcommand.split()[0].lower() == "export":
            sent = await slack_chat.send_export(client, user_key=key, user_id=user_id)
            text = EXPORT_SENT if sent else EXPORT_FAILED
        else:
            reply = await slack_chat.chat.handle(key, slack_chat.prefix + subcommand)
            text = slash_text(reply.text, slack_chat.prefix)
        for message in plain_messages(text):
            response = await call("response_url", respond(response_type="ephemeral", **message))
            if response is not None and response.status_code != 200:
                log.warning("Slack response_url failed: HTTP %s", response.status_code)
