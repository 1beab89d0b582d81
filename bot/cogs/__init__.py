"""Discord cogs, one per file; `bot.discord_bot.EXTENSIONS` lists the ones loaded."""
