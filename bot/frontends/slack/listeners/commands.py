"""`/memory`: what the bot keeps about you, answered so only you see it.

Each subcommand is the chat command of the same name (`/memory history 2` is `history 2`), so
commands the core adds work here unchanged; `/memory` alone (or `list`) and `/memory on|off`
are the `memory` command. `export` arrives as a file in a DM with the bot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ....core.syntax import Command
from ..render import plain_messages
from ..replies import EXPORT_FAILED, EXPORT_SENT, MEMORY_COMMAND, call
from ..users import SLACK_NAMES, may_configure, place_of, typed_user, user_key

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from ..replies import SlackChat

log = logging.getLogger(__name__)

COMMAND = MEMORY_COMMAND


def subcommand(text: str) -> Command:
    """The chat command a `/memory` subcommand is: `/memory` (or `list`) and
    `/memory on|off` are `memory` and `memory on|off`; any other is itself
    (`/memory forget city` is `forget city`)."""
    name, _, argument = " ".join(text.split()).partition(" ")
    name = name.lower()
    if name in ("", "list"):
        return Command("memory", argument)
    if name in ("on", "off"):
        return Command("memory", f"{name} {argument}".strip())
    return Command(name, argument)


def register(app: AsyncApp, slack_chat: SlackChat) -> None:
    @app.command(COMMAND)
    async def memory(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """(list) · on|off · forget [item] · history [page] · search <words> · export · usage ·
        help: your memory, shown only to you; config …: the workspace's settings, for its
        admins."""
        await ack()  # Slack wants this within 3 s; the work follows
        typed = str(command.get("text", ""))
        wanted = subcommand(typed)
        user_id = command["user_id"]
        team = context.team_id
        key = user_key(team, user_id)
        channel = str(command.get("channel_id") or "")
        if wanted.name == "export":
            sent = await slack_chat.send_export(client, user_key=key, user_id=user_id)
            text = EXPORT_SENT if sent else EXPORT_FAILED
        elif wanted.name == "config":
            # Only the workspace's admins; the workspace and channel are the request's own.
            admin = await may_configure(slack_chat.settings, client, user_id)
            text = await slack_chat.chat.commands.config(
                key,
                place_of(team, channel, admin=admin),
                (typed.strip().split(None, 1) + [""])[1],  # as typed: text keeps its lines
                slack_chat.syntax,
                names=SLACK_NAMES,
                user_key=lambda named: typed_user(team, named),
            )
        else:
            text = await slack_chat.chat.commands.run(
                key, wanted, slack_chat.syntax, place_of(team, channel)
            )
        for message in plain_messages(text):
            response = await call("response_url", respond(response_type="ephemeral", **message))
            if response is not None and response.status_code != 200:
                log.warning("Slack response_url failed: HTTP %s", response.status_code)
