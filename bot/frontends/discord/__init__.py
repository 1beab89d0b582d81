"""The Discord front end: the bot class, its cogs, and Discord rendering (embeds)."""
